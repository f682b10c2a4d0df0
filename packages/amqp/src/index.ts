/** The DeliveryQueue on RabbitMQ (quorum queues, confirms, delay tiers, dead letters, reconnects). */
export * as AmqpQueue from "./AmqpQueue.js"
/** The `queue` section for RabbitMQ (`kind: "rabbitmq"`), also at @sluice/amqp/AmqpConfig without amqplib. */
export * as AmqpConfig from "./AmqpConfig.js"
