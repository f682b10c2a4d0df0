/** Email address syntax (RFC 5321/6531), the one check used everywhere. */
export * as Address from "./Address.js"
/** A reusable timer on Effect's Clock, for synchronous code that must look again later. */
export * as Alarm from "./Alarm.js"
/** Bounce and deferral categories, and the classifier that gives them. */
export * as Bounce from "./Bounce.js"
/** How much leased work the engine holds (a broker queue sizes its prefetch by it). */
export * as Capacity from "./Capacity.js"
/** Msgpack with a schema, for values kept outside the process (a broker, a disk). */
export * as Codec from "./Codec.js"
/** The engine's sections of the configuration file, the schemas other sections share, and decoding by path. */
export * as Config from "./Config.js"
/** How errors name a field of a decoded input (`upstreams[0].port`). */
export { pathOf } from "./FieldPath.js"
/** Delivery events. */
export type { DeliveryEvent } from "./DeliveryEvent.js"
/** The queue port, and its errors. */
export * from "./DeliveryQueue.js"
/** The engine's metrics (Prometheus names from the contract). */
export * as EngineMetrics from "./EngineMetrics.js"
/** Later bounces and complaints: delivery status notifications (RFC 3464) and abuse reports (RFC 5965). */
export * as Feedback from "./Feedback.js"
/** Idempotency keys: a message's fingerprint, and the conflict of a key used for another message. */
export * as Idempotency from "./Idempotency.js"
export { IdempotencyConflict } from "./Idempotency.js"
/** A logger that takes the engine's per-message log lines a batch at a time. */
export * as LineLogger from "./LineLogger.js"
/** An in-memory DeliveryQueue. */
export * as MemoryQueue from "./MemoryQueue.js"
/** Upstream rate limits: local by default, pluggable for a cluster. */
export * as RateLimit from "./RateLimit.js"
/** Schemas of messages and records, for stores outside the process. */
export * as MessageSchema from "./MessageSchema.js"
/** Messages, statuses and records. */
export * from "./Message.js"
/** The retry policy. */
export * as Retry from "./Retry.js"
/** Where the engine suppresses addresses that bounced for good or complained. */
export * from "./Suppressions.js"
/** What is queued: counts, and the messages matching a filter, page by page. */
export * as Inspection from "./Inspection.js"
/** An operator's holds on a stream, an upstream or a recipient domain. */
export * as Suspensions from "./Suspensions.js"
/** Status records and idempotency keys beside a broker queue. */
export * as StatusStore from "./StatusStore.js"
/** Validating and composing submitted messages. */
export * from "./Submission.js"
/** The port through which a submit renders a message's template. */
export * from "./Templates.js"
/** The port through which a submit checks a message's recipients (suppressions, DNS). */
export * from "./Recipients.js"
/** The Sluice service and its layer. */
export * from "./Sluice.js"
/** A wake-up for loops that wait for a change (used by the queue adapters too). */
export { Signal } from "./Signal.js"
