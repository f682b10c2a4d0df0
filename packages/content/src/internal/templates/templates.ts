import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import type { Scope } from "effect"
import { Cache, Data, Duration, Effect, Exit, Option, Runtime, Schema } from "effect"
import { createHash } from "node:crypto"
import type { Options, Rendered, TemplateSource, TemplatesShape } from "../../Templates.js"
import { defaults, TemplateInvalid, TemplateNotFound, TemplateTooLarge } from "../../Templates.js"
import type { Outcome, Sources } from "./renderer.js"
import * as Renderer from "./renderer.js"
import { fields } from "./renderer.js"

const Stored = Schema.parseJson(Schema.Struct({
  subject: Schema.optionalWith(Schema.String, { exact: true }),
  text: Schema.optionalWith(Schema.String, { exact: true }),
  html: Schema.optionalWith(Schema.String, { exact: true })
}))

// A template's latest version number lives under `version/<id>`, each version's sources under
// `source/<id>/<version>`: a render reads the small pointer, and the sources only on a cache miss.
const versionKey = (id: string) => `version/${id}`
const sourceKey = (id: string, version: number) => `source/${id}/${version}`

// Ids become store keys (file names on disk, Redis keys): short, and nothing a path or shell treats specially.
const validId = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

class VersionOf extends Data.Class<{ readonly id: string; readonly version: number }> {}

/** The sources given, without the absent fields. */
const present = (source: TemplateSource): Sources =>
  Object.fromEntries(fields.flatMap((field) => source[field] === undefined ? [] : [[field, source[field]]]))

// Workers hold compiled templates under the digest of their sources: the same sources compile once.
const digestOf = (sources: Sources) => createHash("sha256").update(JSON.stringify(fields.map((f) => sources[f] ?? null))).digest("base64url")

const lineAndColumn = (where: { line?: number | undefined; column?: number | undefined }) => ({
  ...(where.line === undefined ? {} : { line: where.line }),
  ...(where.column === undefined ? {} : { column: where.column })
})

export const make = (
  store: KeyValueStore.KeyValueStore,
  options: Options = {}
): Effect.Effect<TemplatesShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxBytes = options.maxBytes ?? defaults.maxBytes
    const maxRenderedBytes = options.maxRenderedBytes ?? defaults.maxRenderedBytes
    const timeout = Duration.decode(options.timeout ?? defaults.timeout)
    const log = Runtime.runFork(yield* Effect.runtime<never>())
    const renderer = yield* Renderer.make({
      workers: options.workers ?? defaults.workers,
      timeout,
      maxHeapMb: defaults.maxHeapMb,
      maxCodeBytes: defaults.maxCodeBytes,
      // Handlebars' warnings, as records of Sluice's log: its own lines would not be JSON.
      onLog: (level, message) =>
        log(Effect.logWarning("template engine warning").pipe(Effect.annotateLogs({ handlebars: message, handlebarsLevel: level })))
    })

    /** A compile's or render's end that is not a success, as the error it is. */
    const invalid = (id: string, doing: "compile" | "render", outcome: Exclude<Outcome<unknown>, { _tag: "Done" | "Missing" }>) => {
      switch (outcome._tag) {
        case "Invalid": {
          const { field, message } = outcome.problem
          return new TemplateInvalid({ id, field, reason: message, ...lineAndColumn(outcome.problem) })
        }
        case "TooLarge":
          return new TemplateInvalid({
            id,
            field: outcome.field,
            reason: `renders to more than ${maxRenderedBytes} bytes (${outcome.bytes} by the end of ${outcome.field}), ` +
              `more than a message may have (http.maxBodyBytes)`
          })
        case "TimedOut":
          return new TemplateInvalid({
            id,
            field: "template",
            reason: `took longer than ${Duration.format(timeout)} to ${doing} (http.templateTimeout)`
          })
        case "Crashed":
          return new TemplateInvalid({ id, field: "template", reason: `could not ${doing}: ${outcome.reason}` })
      }
    }

    /** Compiles every field in a worker under the sources' digest, or says which one does not compile and where. */
    const compile = (id: string, sources: Sources) =>
      Effect.suspend(() => {
        const key = digestOf(sources)
        return Effect.flatMap(renderer.compile(key, sources), (outcome) =>
          outcome._tag === "Done"
            ? Effect.succeed(key)
            : outcome._tag === "Missing"
            ? Effect.dieMessage("a compile answered missing")
            : Effect.fail(invalid(id, "compile", outcome)))
      })

    const readVersion = (id: string) =>
      store.get(versionKey(id)).pipe(Effect.orDie, Effect.map(Option.map(Number)))

    // Which key each version is compiled under; a miss reads its sources and compiles them.
    const compiled = yield* Cache.makeWith({
      capacity: options.capacity ?? 10_000,
      lookup: ({ id, version }: VersionOf) =>
        store.get(sourceKey(id, version)).pipe(
          Effect.orDie,
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new TemplateNotFound({ id })),
            onSome: (json) => Schema.decodeUnknown(Stored)(json).pipe(Effect.orDie)
          })),
          Effect.flatMap((source) => compile(id, source))
        ),
      // A version's sources never change, so its key stays right; a failed lookup (a version
      // replaced while being read) is not remembered.
      timeToLive: (exit) => Exit.isSuccess(exit) ? Duration.infinity : Duration.zero
    })

    // One put at a time, so two puts of one id get two versions.
    const writes = yield* Effect.makeSemaphore(1)

    const put: TemplatesShape["put"] = (id, source) =>
      Effect.gen(function*() {
        if (!validId.test(id)) {
          return yield* new TemplateInvalid({
            id,
            field: "template",
            reason: "the id must be 1 to 128 characters of letters, digits, '.', '_' and '-', starting with a letter or digit"
          })
        }
        const sources = present(source)
        if (Object.keys(sources).length === 0) {
          return yield* new TemplateInvalid({ id, field: "template", reason: "has none of subject, text, html" })
        }
        let bytes = 0
        for (const field of fields) bytes += Buffer.byteLength(sources[field] ?? "")
        if (bytes > maxBytes) return yield* new TemplateTooLarge({ id, bytes, limit: maxBytes })
        if (source.subject !== undefined && /[\r\n]/.test(source.subject)) {
          return yield* new TemplateInvalid({ id, field: "subject", reason: "contains CR or LF (a subject is one header line)" })
        }
        const key = yield* compile(id, sources)
        return yield* writes.withPermits(1)(Effect.gen(function*() {
          const previous = Option.getOrElse(yield* readVersion(id), () => 0)
          const version = previous + 1
          const json = yield* Schema.encode(Stored)(sources).pipe(Effect.orDie)
          yield* store.set(sourceKey(id, version), json).pipe(Effect.orDie)
          yield* store.set(versionKey(id), String(version)).pipe(Effect.orDie)
          if (previous > 0) yield* store.remove(sourceKey(id, previous)).pipe(Effect.orDie)
          // This process has just compiled it; other processes sharing the store compile it on first use.
          yield* compiled.set(new VersionOf({ id, version }), key)
          return { id, version }
        }))
      }).pipe(Effect.withSpan("Templates.put", { attributes: { id } }))

    const renderVersion = (
      id: string,
      version: VersionOf,
      vars: unknown,
      retries: number
    ): Effect.Effect<Rendered, TemplateNotFound | TemplateInvalid> =>
      compiled.get(version).pipe(
        Effect.flatMap((key) => renderer.render(key, vars, maxRenderedBytes)),
        Effect.flatMap((outcome) => {
          switch (outcome._tag) {
            case "Done":
              return Effect.succeed(outcome.value)
            case "Missing":
              // Its worker let it go (or was replaced): compiled again from the sources.
              return retries > 0
                ? Effect.zipRight(compiled.invalidate(version), renderVersion(id, version, vars, retries - 1))
                : Effect.fail(new TemplateInvalid({ id, field: "template", reason: "could not render: its compiled form was let go while in use; try again" }))
            default:
              return Effect.fail(invalid(id, "render", outcome))
          }
        })
      )

    const renderLatest = (id: string, vars: unknown) =>
      readVersion(id).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new TemplateNotFound({ id })),
          onSome: (version) => renderVersion(id, new VersionOf({ id, version }), vars, 2)
        })),
        Effect.flatMap((rendered) =>
          // A variable holding CR or LF would start a header of its own (header injection).
          rendered.subject !== undefined && /[\r\n\0]/.test(rendered.subject)
            ? Effect.fail(new TemplateInvalid({ id, field: "subject", reason: "renders to a subject with CR, LF or NUL" }))
            : Effect.succeed(rendered)
        )
      )

    const render: TemplatesShape["render"] = (id, vars) =>
      // Once more on a miss: a put may have replaced the version between reading its number and its sources.
      renderLatest(id, vars).pipe(Effect.catchTag("TemplateNotFound", () => renderLatest(id, vars)))

    return { put, render } satisfies TemplatesShape
  })
