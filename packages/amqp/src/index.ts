/** The DeliveryQueue on RabbitMQ (quorum queues, confirms, delay tiers, dead letters, reconnects). */
export * as AmqpQueue from "./AmqpQueue.js"
