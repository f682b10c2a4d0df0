import { Data, Duration, Effect, ParseResult, Schema } from "effect"
import { Rule } from "./Bounce.js"
import { pathOf } from "./FieldPath.js"

/** An Effect duration string ("30 seconds") or a number of milliseconds. */
export const DurationFromInput = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.NonNegative),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (typeof input === "number") return ParseResult.succeed(Duration.millis(input))
      const decoded = Duration.decodeUnknown(input)
      return decoded._tag === "Some"
        ? ParseResult.succeed(decoded.value)
        : ParseResult.fail(new ParseResult.Type(ast, input, `"${input}" is not a duration (try "30 seconds" or 30000)`))
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  }
).annotations({ identifier: "Duration" })

// Shared by the sections other packages own (http, queue, webhook, …), so each says a port or a count alike.
export const Port = Schema.Int.pipe(Schema.between(0, 65535))
export const Positive = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))
/** An optional field that decodes to `value()` when absent. */
export const withDefault = <S extends Schema.Schema.Any>(schema: S, value: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: value as never, exact: true })

export const Upstream = Schema.Struct({
  name: Schema.optional(Schema.NonEmptyTrimmedString),
  host: Schema.NonEmptyTrimmedString,
  port: Port,
  weight: withDefault(Schema.NonNegative, () => 1),
  role: withDefault(Schema.Literal("active", "standby"), () => "active" as const),
  maxConnections: withDefault(Positive, () => 10),
  maxMessagesPerConnection: withDefault(Positive, () => 1000),
  idleTimeout: withDefault(DurationFromInput, () => Duration.seconds(30)),
  /** Let what this upstream cannot take right now go to the others, instead of waiting for it. */
  spill: withDefault(Schema.Boolean, () => false),
  /** At most `messages` deliveries start in any window of `per`; `burst` of them may start at once (default 1). */
  rateLimit: Schema.optional(Schema.Struct({ messages: Positive, per: DurationFromInput, burst: Schema.optional(Positive) })),
  tls: withDefault(Schema.Literal("none", "starttls", "required", "implicit"), () => "none" as const),
  tlsVerify: withDefault(Schema.Boolean, () => true),
  auth: Schema.optional(Schema.Struct({ user: Schema.String, pass: Schema.String })),
  timeouts: Schema.optional(Schema.Struct({
    connect: Schema.optional(DurationFromInput),
    greeting: Schema.optional(DurationFromInput),
    command: Schema.optional(DurationFromInput),
    data: Schema.optional(DurationFromInput)
  }))
})
export type Upstream = Schema.Schema.Type<typeof Upstream>

export const Retry = Schema.Struct({
  maxAttempts: withDefault(Positive, () => 8),
  initialDelay: withDefault(DurationFromInput, () => Duration.seconds(30)),
  maxDelay: withDefault(DurationFromInput, () => Duration.hours(1)),
  maxAge: withDefault(DurationFromInput, () => Duration.days(3))
})

export const CircuitBreaker = Schema.Struct({
  failureThreshold: withDefault(Positive, () => 5),
  cooldown: withDefault(DurationFromInput, () => Duration.seconds(10))
})

/**
 * Extra bounce classification rules, tried before the built-in ones (Bounce.ts): the first rule whose
 * every given field matches gives the category. `code` is a basic reply code or a class ("5xx"),
 * `enhanced` an RFC 3463 code where "x" matches any part ("5.1.x"), `text` a case-insensitive regular
 * expression on the reply text. The schema is Bounce.Rule, which also decodes the built-in rules.
 */
export const BounceRule = Rule
export type BounceRule = Schema.Schema.Type<typeof BounceRule>

/** Addresses suppressed by the engine itself: after a bad-mailbox or bad-domain bounce, and on a complaint. */
export const Suppressions = Schema.Struct({
  auto: withDefault(Schema.Boolean, () => true),
  /** How long such a suppression lasts; for good when absent. */
  expireAfter: Schema.optional(DurationFromInput)
})

/**
 * The engine's sections of the configuration file (the whole file, with the other packages' sections,
 * is @sluice/sluice's SluiceConfig); every field but `upstreams` has a default.
 */
export const SluiceConfig = Schema.Struct({
  upstreams: Schema.NonEmptyArray(Upstream),
  streams: withDefault(
    Schema.Record({ key: Schema.NonEmptyTrimmedString, value: Schema.Struct({ weight: Schema.Positive }) }),
    () => ({ default: { weight: 1 } })
  ),
  retry: withDefault(Retry, () => Schema.decodeSync(Retry)({})),
  circuitBreaker: withDefault(CircuitBreaker, () => Schema.decodeSync(CircuitBreaker)({})),
  bounces: withDefault(Schema.Struct({ rules: withDefault(Schema.Array(BounceRule), () => []) }), () => ({ rules: [] })),
  suppressions: withDefault(Suppressions, () => ({ auto: true }))
})
export type SluiceConfig = Schema.Schema.Type<typeof SluiceConfig>
export type SluiceConfigInput = Schema.Schema.Encoded<typeof SluiceConfig>

/** A configuration that does not decode; `issues` name each bad field by its path. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
}> {
  override get message() {
    return this.issues.map((issue) => `${issue.path || "(config)"}: ${issue.message}`).join("\n")
  }
}

/** Decodes and checks a configuration (JSON already parsed), naming every bad field. */
export const decode = (input: unknown): Effect.Effect<SluiceConfig, ConfigError> => decodeWith(SluiceConfig)(input)

/**
 * Decodes a configuration whose schema adds other packages' sections to the engine's (the file
 * `sluice serve` reads: `cache`, …), naming every bad field by its path as `decode` does.
 */
export const decodeWith = <A extends SluiceConfig, I>(schema: Schema.Schema<A, I>) => (input: unknown): Effect.Effect<A, ConfigError> =>
  decodeSection(schema)(input).pipe(
    Effect.flatMap((config) => {
      const issues = crossFieldIssues(config)
      return issues.length === 0 ? Effect.succeed(config) : Effect.fail(new ConfigError({ issues }))
    })
  )

/**
 * Decodes any part of a configuration with its schema (a package's section, or sections together),
 * unknown fields refused, naming every bad field by its path within `input`.
 */
export const decodeSection = <A, I>(schema: Schema.Schema<A, I>) => (input: unknown): Effect.Effect<A, ConfigError> =>
  Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) =>
      new ConfigError({
        issues: withoutUndefinedBranches(ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
          path: pathOf(issue.path),
          message: issue.message
        })))
      })
    )
  )

// An optional field is a union with undefined, so a bad value in it is also reported as "Expected
// undefined" at the field itself (`queue.maxMappedBytes: 0`) and at each enclosing optional field;
// the other issue says what is wrong and where.
const withoutUndefinedBranches = (issues: ReadonlyArray<{ path: string; message: string }>) =>
  issues.filter((issue) =>
    !(isUndefinedBranch(issue) &&
      issues.some((other) =>
        other !== issue && (isInside(other.path, issue.path) || (other.path === issue.path && !isUndefinedBranch(other)))
      ))
  )

const isUndefinedBranch = (issue: { readonly message: string }) => issue.message.startsWith("Expected undefined, actual")

const isInside = (path: string, parent: string) =>
  parent === "" ? path !== "" : path.startsWith(parent) && (path[parent.length] === "." || path[parent.length] === "[")

const crossFieldIssues = (config: SluiceConfig) => {
  const issues: Array<{ path: string; message: string }> = []
  const seen = new Map<string, number>()
  config.upstreams.forEach((upstream, i) => {
    const name = upstreamName(upstream)
    const first = seen.get(name)
    if (first !== undefined) {
      issues.push({ path: `upstreams[${i}].name`, message: `"${name}" is already the name of upstreams[${first}]` })
    }
    seen.set(name, i)
  })
  if (!config.upstreams.some((upstream) => upstream.role === "active" && upstream.weight > 0)) {
    issues.push({ path: "upstreams", message: "at least one upstream must be active with a weight above 0" })
  }
  return issues
}

/** An upstream's name: as configured, else host:port. */
export const upstreamName = (upstream: Pick<Upstream, "name" | "host" | "port">): string => upstream.name ?? `${upstream.host}:${upstream.port}`
