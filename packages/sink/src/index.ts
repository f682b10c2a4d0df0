/** A recording SMTP sink: accepts, records or counts, and refuses on request. */
export * as Sink from "./Sink.js"
