/** Plain counters for hot paths, moved into Effect metrics when the metrics are read. */
export * as Counters from "./Counters.js"
/** How message content is put on the wire after DATA: CRLF line ends, dot-stuffing, the final dot. */
export * as DataEncoding from "./DataEncoding.js"
/** Typed errors, each naming the upstream and the phase. */
export * from "./SmtpError.js"
/** SMTP connection and reply counters. */
export * as SmtpMetrics from "./SmtpMetrics.js"
/** Upstream connection options and their defaults. */
export * as SmtpOptions from "./SmtpOptions.js"
/** The connections to one upstream: pipelined state machines pulling work from a Source. */
export * as SmtpPool from "./SmtpPool.js"
/** Reply parsing and the one classification of replies and errors. */
export * as SmtpReply from "./SmtpReply.js"
/** One SMTP session, for tools and tests. */
export * as SmtpSession from "./SmtpSession.js"
