/** The HTTP API's definition (schemas, endpoints); its OpenAPI document comes from it. */
export * as Api from "./Api.js"
/** The `http` section (listener, keys, limits), also at @sluice/http/HttpConfig without the server. */
export * as HttpConfig from "./HttpConfig.js"
/** The HTTP ingestion adapter: the API served on `http.host`/`http.port`. */
export * as HttpAdapter from "./HttpAdapter.js"
/** Metrics of the HTTP adapter (complaints) and of the process (CPU, memory). */
export * as HttpMetrics from "./HttpMetrics.js"
/** Error answers as RFC 9457 problem details. */
export * as Problem from "./Problem.js"
/** Delivery events posted to a webhook in JSON batches (config `webhook`). */
export * as Webhook from "./Webhook.js"
/** Live reload of the configuration (POST /v1/admin/reload), as `sluice serve` provides it. */
export * as Reload from "./Reload.js"
