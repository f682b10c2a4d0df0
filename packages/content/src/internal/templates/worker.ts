/**
 * The program of a template worker thread (renderer.ts), as the source `new Worker(source, { eval:
 * true })` runs. It is plain CommonJS in a string, not a module of its own: the same text runs under
 * vitest, under tsx (whose transform would add helpers a function's `toString()` cannot carry) and in
 * the bundled command (which has no file beside it to load). It loads Handlebars from the path in
 * `workerData.handlebars`, compiles and renders, and holds compiled templates by key.
 *
 * Messages in: `{id, op: "compile", key, source: {subject?, text?, html?}}` and
 * `{id, op: "render", key, vars, maxBytes}`. Out: `{id, ok: true}`, `{id, rendered}`, `{id, missing: true}`
 * (no template under that key: compile it again), `{id, problem: {field, message, line?, column?}}`,
 * `{id, tooLarge: {field, bytes}}`, `{log: {level, message}}` whenever Handlebars logs, and `{ready: true}`
 * once, when it has loaded Handlebars and takes requests.
 */
export const source = String.raw`"use strict"
const { parentPort, workerData } = require("node:worker_threads")
const { createRequire } = require("node:module")

// Handlebars builds the code of a template with source-map's SourceNode when that package loads, and
// with plain strings when it does not: the strings take a fifth of the time and a quarter of the
// memory, and nobody reads these source maps. A cached empty module makes the load find no SourceNode.
try {
  const path = createRequire(workerData.handlebars).resolve("source-map")
  require.cache[path] = { id: path, filename: path, loaded: true, exports: {}, children: [], paths: [] }
} catch {}

const Handlebars = require(workerData.handlebars)
const post = (message) => parentPort.postMessage(message)

// Handlebars' own warnings (a property its prototype guard refused) go to Sluice's log as records;
// Handlebars would write them to the console as bare lines. The {{log}} helper writes nothing at all:
// it would put whatever a caller sends into the log.
Handlebars.logger.log = (level, ...message) => post({ log: { level: String(level), message: message.map(String).join(" ") } })
const env = Handlebars.create()
env.log = Handlebars.logger.log
env.registerHelper("log", () => undefined)

const fields = ["subject", "text", "html"]

// Where Handlebars says an error is: parse errors carry the line only in their message.
const problemOf = (field, error) => {
  const e = error ?? {}
  const message = typeof e.message === "string" ? e.message : String(error)
  const line = typeof e.lineNumber === "number" ? e.lineNumber : Number((/on line (\d+)/.exec(message) ?? [])[1])
  const problem = { field, message }
  if (Number.isFinite(line)) problem.line = line
  if (typeof e.column === "number") problem.column = e.column
  return problem
}

// Compiled templates by key, least recently used first, bounded by the size of their generated code
// (what they hold in memory is about that).
const maxCodeBytes = workerData.maxCodeBytes
const compiled = new Map()
let codeBytes = 0
const keep = (key, entry) => {
  const old = compiled.get(key)
  if (old !== undefined) codeBytes -= old.size
  compiled.delete(key)
  compiled.set(key, entry)
  codeBytes += entry.size
  for (const [oldest, { size }] of compiled) {
    if (codeBytes <= maxCodeBytes || oldest === key) break
    compiled.delete(oldest)
    codeBytes -= size
  }
}

// Compiled completely, once: Handlebars' own compile() would compile on the first render instead, and
// V8 compiles the generated function on its first call, so it is called once here with no data.
const compileField = (field, text) => {
  const spec = env.precompile(text, { noEscape: field !== "html" })
  const template = env.template(new Function("return " + spec)())
  try {
    template({})
  } catch {}
  return { template, size: spec.length }
}

const compile = ({ key, source }) => {
  const entry = { size: 0 }
  for (const field of fields) {
    if (typeof source[field] !== "string") continue
    try {
      const { template, size } = compileField(field, source[field])
      entry[field] = template
      entry.size += size
    } catch (error) {
      return { problem: problemOf(field, error) }
    }
  }
  keep(key, entry)
  return { ok: true }
}

const render = ({ key, vars, maxBytes }) => {
  const entry = compiled.get(key)
  if (entry === undefined) return { missing: true }
  compiled.delete(key)
  compiled.set(key, entry)
  const rendered = {}
  let bytes = 0
  for (const field of fields) {
    if (entry[field] === undefined) continue
    try {
      rendered[field] = entry[field](vars)
    } catch (error) {
      return { problem: problemOf(field, error) }
    }
    bytes += Buffer.byteLength(rendered[field])
    if (bytes > maxBytes) return { tooLarge: { field, bytes } }
  }
  return { rendered }
}

parentPort.on("message", (request) => {
  let reply
  try {
    reply = request.op === "compile" ? compile(request) : render(request)
  } catch (error) {
    reply = { problem: problemOf("template", error) }
  }
  post({ id: request.id, ...reply })
})
post({ ready: true })
`
