/** How message content is put on the wire after DATA: CRLF line ends, dot-stuffing, the final dot. */
export * as DataEncoding from "./DataEncoding.js"
/** Typed errors, each naming the upstream and the phase. */
export * from "./SmtpError.js"
/** SMTP connection and reply counters. */
export * as SmtpMetrics from "./SmtpMetrics.js"
/** Upstream connection options and their defaults. */
export * as SmtpOptions from "./SmtpOptions.js"
/** Cached sessions per upstream. */
export * as SmtpPool from "./SmtpPool.js"
/** Reply parsing and the one classification of replies and errors. */
export * as SmtpReply from "./SmtpReply.js"
/** One SMTP session on smtp-client. */
export * as SmtpSession from "./SmtpSession.js"
