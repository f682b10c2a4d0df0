export { directoryFor, layerFromConfig, StorageUnavailable } from "./internal/templates/storage.js"
export type { WithQueue } from "./internal/templates/storage.js"
