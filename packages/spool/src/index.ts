/** The embedded durable queue: the engine's DeliveryQueue on LMDB, with msgpack records. */
export * as Spool from "./Spool.js"
/** Why a spool cannot be opened or written, naming its path. */
export * from "./SpoolError.js"
/** The `queue` section for the spool (`kind: "embedded"`), also at @sluice/spool/SpoolConfig without LMDB. */
export * as SpoolConfig from "./SpoolConfig.js"
