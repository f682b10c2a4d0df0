/** Email templates (Handlebars in worker threads), the engine's `Templates` port. */
export * as Templates from "./Templates.js"
/** Recipient checks and the suppression list, the engine's `Recipients` port. */
export * as Recipients from "./Recipients.js"
/** The `recipients` section, also at @sluice/content/RecipientsConfig without the checks. */
export * as RecipientsConfig from "./RecipientsConfig.js"
/** Where stores that must survive restarts keep their files without Redis: beside the spool. */
export * as Storage from "./Storage.js"
