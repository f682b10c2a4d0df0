import * as KeyValueStore from "@effect/platform/KeyValueStore"
import type { Refused } from "@sluice/engine"
import { Recipients as EngineRecipients, Suppressions } from "@sluice/engine"
import type { Duration } from "effect"
import { Context, Data, Effect, Layer } from "effect"
import { make } from "./internal/recipients/recipients.js"
import type * as RecipientsConfig from "./RecipientsConfig.js"
import * as storage from "./internal/templates/storage.js"

/** An address that is not a valid mailbox (RFC 5321/6531 syntax, or a domain that is not a valid IDN). */
export class InvalidAddress extends Data.TaggedError("InvalidAddress")<{
  readonly address: string
  readonly reason: string
}> {
  override get message() {
    return `"${this.address}" ${this.reason}`
  }
}

export type { Refused } from "@sluice/engine"

export interface RecipientsShape {
  /** The addresses that must not be sent to, each with why: syntax, suppression, and (when enabled) DNS. */
  readonly check: (addresses: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Refused>>
  /**
   * Adds an address to the suppression list (again: replaces the reason), until `until` (epoch ms):
   * from then on it no longer refuses, and is removed when next read. Without `until`, until lifted.
   */
  readonly suppress: (address: string, reason?: string, until?: number) => Effect.Effect<void, InvalidAddress>
  /** Lifts a suppression; false when the address was not suppressed (or its suppression had lapsed). */
  readonly unsuppress: (address: string) => Effect.Effect<boolean, InvalidAddress>
}

export interface Options {
  /** Look up each domain's MX, then A/AAAA, and refuse domains that do not exist or have no records. */
  readonly checkDomains?: boolean
  /** DNS servers as "host:port" (or "host"); the system's when absent. */
  readonly dnsServers?: ReadonlyArray<string>
  /** How long a domain's verdict is remembered. */
  readonly cacheTtl?: Duration.DurationInput
  /** How long one DNS query may take before the domain is accepted unchecked. */
  readonly dnsTimeout?: Duration.DurationInput
}

/**
 * Recipient checks: address syntax, the suppression list (in a KeyValueStore), and optional MX
 * lookups. Each layer gives the engine's `Recipients` port too (the same service), so `Sluice.submit`
 * checks with it.
 */
export class Recipients extends Context.Tag("@sluice/content/Recipients")<Recipients, RecipientsShape>() {
  /**
   * On the KeyValueStore in context: a shared one (Redis) shares suppressions and domain verdicts
   * across processes.
   */
  static readonly layer = (options: Options = {}): Layer.Layer<Recipients | EngineRecipients, never, KeyValueStore.KeyValueStore> =>
    Layer.effect(EngineRecipients, Recipients).pipe(Layer.provideMerge(Layer.scoped(
      Recipients,
      KeyValueStore.KeyValueStore.pipe(
        Effect.flatMap((store) =>
          make({
            suppressions: KeyValueStore.prefix(store, "suppressions/"),
            domains: KeyValueStore.prefix(store, "domains/")
          }, options)
        )
      )
    )))

  /**
   * The engine's Suppressions on this list, so that what the engine learns (bad-mailbox and
   * bad-domain bounces, complaints) is refused at the next submit. A store that fails is logged, and
   * never fails the engine.
   */
  static readonly layerSuppressions: Layer.Layer<Suppressions, never, Recipients> = Layer.effect(
    Suppressions,
    Effect.map(Recipients, (recipients) => ({
      add: (address, reason, until) =>
        recipients.suppress(address, reason, until).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logWarning("suppression not stored", cause).pipe(Effect.annotateLogs({ address, reason }))
          )
        )
    }))
  )

  /** `recipients` from the config; its store in memory for a memory queue, else beside the spool. */
  static readonly layerFromConfig = (
    config: WithRecipients & storage.WithQueue
  ): Layer.Layer<Recipients | EngineRecipients, storage.StorageUnavailable> =>
    Recipients.layer(optionsFromConfig(config)).pipe(Layer.provide(storage.layerFromConfig(config, "recipients")))
}

/** What the checks read of a configuration: its `recipients` section, when it has one. */
export interface WithRecipients {
  readonly recipients?: RecipientsConfig.Config | undefined
}

export const optionsFromConfig = (config: WithRecipients): Options => {
  const recipients = config.recipients
  if (recipients === undefined) return {}
  return {
    checkDomains: recipients.checkDomains,
    cacheTtl: recipients.cacheTtl,
    dnsTimeout: recipients.dnsTimeout,
    ...(recipients.dnsServers === undefined ? {} : { dnsServers: recipients.dnsServers })
  }
}

export const layer = Recipients.layer
export const layerFromConfig = Recipients.layerFromConfig
export const layerSuppressions = Recipients.layerSuppressions
