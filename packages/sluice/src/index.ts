/** The configuration file, composed from the sections of the packages that own them. */
export * as SluiceConfig from "./SluiceConfig.js"
/** The `cache` section's layer: shared state in this process, or in Redis. */
export * as CacheLayer from "./CacheLayer.js"
/** The `log` section: the lowest level logged. */
export * as Logging from "./Logging.js"
/** The DeliveryQueue named by `queue.kind`. */
export * as QueueLayer from "./QueueLayer.js"
/** The Promise facade: the engine on the same layers as `sluice serve`, without HTTP. */
export * from "./createEngine.js"
