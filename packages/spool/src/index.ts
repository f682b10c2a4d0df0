/** The embedded durable queue: the engine's DeliveryQueue on LMDB, with msgpack records. */
export * as Spool from "./Spool.js"
/** Why a spool cannot be opened or written, naming its path. */
export * from "./SpoolError.js"
