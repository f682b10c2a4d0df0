import { KeyValueStore } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Templates } from "../src/Templates.js"

/** The memory store, counting reads per key: how the tests see what render fetches (and so compiles). */
const countingStore = Effect.gen(function*() {
  const store = yield* KeyValueStore.KeyValueStore
  const reads = new Map<string, number>()
  const counted = KeyValueStore.make({
    ...store,
    get: (key) => Effect.sync(() => reads.set(key, (reads.get(key) ?? 0) + 1)).pipe(Effect.zipRight(store.get(key)))
  })
  return { store: counted, reads: (key: string) => reads.get(key) ?? 0 }
}).pipe(Effect.provide(KeyValueStore.layerMemory))

const templates = Effect.gen(function*() {
  const { reads, store } = yield* countingStore
  const context = yield* Layer.build(Templates.layer.pipe(Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, store))))
  return { templates: yield* Effect.provide(Templates, context), reads }
})

/** The TemplateInvalid a put is refused with (any other error fails the test). */
const invalid = <A, E extends { _tag: string }>(put: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.flip(put), (error) =>
    error._tag === "TemplateInvalid" ? Effect.succeed(error as Extract<E, { _tag: "TemplateInvalid" }>) : Effect.die(error))

const welcome = {
  subject: "Welcome, {{name}}",
  text: "Hello {{name}},\n{{#each items}}- {{this}}\n{{/each}}",
  html: "<p>Hello {{name}}</p>{{#if vip}}<b>VIP</b>{{/if}}"
}

describe("Templates", () => {
  it.scoped("put stores versions 1, 2, 3; render uses the latest", () =>
    Effect.gen(function*() {
      const { templates: t } = yield* templates
      expect(yield* t.put("welcome", welcome)).toEqual({ id: "welcome", version: 1 })
      expect(yield* t.put("welcome", { ...welcome, subject: "Hi {{name}}" })).toEqual({ id: "welcome", version: 2 })
      expect(yield* t.put("other", { text: "x" })).toEqual({ id: "other", version: 1 })
      expect(yield* t.render("welcome", { name: "Ann", items: ["a", "b"], vip: true })).toEqual({
        subject: "Hi Ann",
        text: "Hello Ann,\n- a\n- b\n",
        html: "<p>Hello Ann</p><b>VIP</b>"
      })
      expect(yield* t.put("welcome", { text: "v3 {{name}}" })).toEqual({ id: "welcome", version: 3 })
      // Fields a version leaves out are not rendered from an older one.
      expect(yield* t.render("welcome", { name: "Ann" })).toEqual({ text: "v3 Ann" })
    }))

  it.scoped("html escapes variables; text and subject do not", () =>
    Effect.gen(function*() {
      const { templates: t } = yield* templates
      yield* t.put("t", { subject: "{{s}}", text: "{{s}}", html: "<p>{{s}}</p><p>{{{raw}}}</p>" })
      const rendered = yield* t.render("t", { s: "Tom & Jerry <tj@example.com>", raw: "<i>trusted</i>" })
      expect(rendered).toEqual({
        subject: "Tom & Jerry <tj@example.com>",
        text: "Tom & Jerry <tj@example.com>",
        html: "<p>Tom &amp; Jerry &lt;tj@example.com&gt;</p><p><i>trusted</i></p>"
      })
    }))

  it.scoped("a subject that would render CR or LF is refused: no header injection through vars", () =>
    Effect.gen(function*() {
      const { templates: t } = yield* templates
      yield* t.put("t", { subject: "Order {{order}}", text: "{{note}}" })
      const error = yield* Effect.flip(t.render("t", { order: "1\r\nBcc: victim@example.com" }))
      expect({ ...error }).toMatchObject({ _tag: "TemplateInvalid", id: "t", field: "subject" })
      expect(error.message).toBe("template \"t\" subject: renders to a subject with CR, LF or NUL")
      // In the text part a line break is just text.
      expect(yield* t.render("t", { order: "1", note: "line 1\r\nline 2" })).toEqual({ subject: "Order 1", text: "line 1\r\nline 2" })
    }))

  it.scoped("put refuses sources that do not compile, naming the field, line and column", () =>
    Effect.gen(function*() {
      const { templates: t } = yield* templates
      const unclosed = yield* invalid(t.put("bad", { subject: "ok", html: "<p>\n{{#if x}}\n{{/each}}" }))
      expect({ ...unclosed }).toMatchObject({ _tag: "TemplateInvalid", id: "bad", field: "html", line: 2, column: 3 })
      expect(unclosed.reason).toContain("if doesn't match each")

      const parse = yield* invalid(t.put("bad", { text: "line one\nHello {{name" }))
      expect({ ...parse }).toMatchObject({ _tag: "TemplateInvalid", field: "text", line: 2 })
      expect(parse.reason).toContain("Parse error on line 2")

      const fieldAndReason = (e: { field: string; reason: string }) => ({ field: e.field, reason: e.reason })
      expect(fieldAndReason(yield* invalid(t.put("bad", {})))).toEqual({
        field: "template", reason: "has none of subject, text, html"
      })
      expect(fieldAndReason(yield* invalid(t.put("bad", { subject: "a\r\nBcc: x" })))).toEqual({
        field: "subject", reason: "contains CR or LF (a subject is one header line)"
      })
      for (const id of ["", "../etc", "a b", "x".repeat(129)]) {
        expect((yield* invalid(t.put(id, { text: "x" }))).field).toBe("template")
      }
      // Nothing of it was stored.
      expect((yield* Effect.flip(t.render("bad", {})))._tag).toBe("TemplateNotFound")
    }))

  it.scoped("render: an unknown id is TemplateNotFound; a missing helper or partial is TemplateInvalid", () =>
    Effect.gen(function*() {
      const { templates: t } = yield* templates
      expect({ ...(yield* Effect.flip(t.render("nope", {}))) }).toEqual({ _tag: "TemplateNotFound", id: "nope" })
      yield* t.put("helper", { text: "{{shout name}}" })
      expect({ ...(yield* Effect.flip(t.render("helper", { name: "a" }))) }).toMatchObject({
        _tag: "TemplateInvalid", field: "text", reason: "Missing helper: \"shout\""
      })
      yield* t.put("partial", { html: "{{> footer}}" })
      const partial = yield* Effect.flip(t.render("partial", {}))
      expect({ ...partial }).toMatchObject({
        _tag: "TemplateInvalid", field: "html", reason: "The partial footer could not be found"
      })
    }))

  it.scoped("vars cannot reach prototypes (Handlebars' prototype-access guard stays on)", () =>
    Effect.gen(function*() {
      const { templates: t } = yield* templates
      yield* t.put("proto", { text: "[{{constructor.name}}][{{__proto__}}]" })
      expect((yield* t.render("proto", {})).text).toBe("[][]")
    }))

  it.scoped("templates are compiled once per version: by the put, or on first use by another process", () =>
    Effect.gen(function*() {
      const { reads, store } = yield* countingStore
      const open = Effect.flatMap(
        Layer.build(Templates.layer.pipe(Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, store)))),
        (context) => Effect.provide(Templates, context)
      )
      const first = yield* open
      yield* first.put("w", welcome)
      for (let i = 0; i < 20; i++) yield* first.render("w", { name: `n${i}` })
      expect(reads("templates/source/w/1")).toBe(0)

      // A second process on the same store (as with Redis): it reads and compiles the sources once.
      const second = yield* open
      for (let i = 0; i < 20; i++) expect((yield* second.render("w", { name: `n${i}` })).subject).toBe(`Welcome, n${i}`)
      yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => second.render("w", { name: `c${i}` }), {
        concurrency: 10
      })
      expect(reads("templates/source/w/1")).toBe(1)

      // A put on the first is seen by the second at once: it reads the version pointer on every render.
      yield* first.put("w", { text: "second" })
      for (let i = 0; i < 5; i++) expect((yield* second.render("w", {})).text).toBe("second")
      expect(reads("templates/source/w/2")).toBe(1)
    }))

  it.scoped("concurrent puts of one id get distinct versions; only the latest sources are kept", () =>
    Effect.gen(function*() {
      const { store } = yield* countingStore
      const context = yield* Layer.build(Templates.layer.pipe(Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, store))))
      const t = yield* Effect.provide(Templates, context)
      const versions = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => t.put("c", { text: `v${i}` }).pipe(Effect.map((r) => r.version)),
        { concurrency: "unbounded" }
      )
      expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(yield* store.size).toBe(2) // the version pointer and version 10's sources
    }))

  it.scoped("with an embedded queue, templates are on disk beside the spool and survive a restart", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-templates-test-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const config = {
        queue: { kind: "embedded" as const, path: path.join(dir, "spool") },
        http: { maxTemplateBytes: 256 * 1024, templateTimeout: Duration.seconds(10), maxBodyBytes: 10 * 1024 * 1024 }
      }
      const open = Effect.flatMap(Layer.build(Templates.layerFromConfig(config)), (c) => Effect.provide(Templates, c))
      yield* Effect.scoped(Effect.flatMap(open, (t) => Effect.zipRight(t.put("w", welcome), t.put("w", welcome))))
      expect(fs.existsSync(path.join(dir, "templates"))).toBe(true)
      const again = yield* open
      expect((yield* again.render("w", { name: "Bo" })).subject).toBe("Welcome, Bo")
      expect(yield* again.put("w", { text: "x" })).toEqual({ id: "w", version: 3 })
    }))
})
