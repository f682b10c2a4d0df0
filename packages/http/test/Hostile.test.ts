import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import type { CallOptions, Running } from "./support/adapter.js"
import { start, statusUntil } from "./support/adapter.js"
import { bytes, ok } from "./support/badInput.js"

/**
 * Hostile requests (issue 14), each with the answer it must get: a 4xx saying what and where, short
 * whatever it was sent, on the fast path and on the HttpApi path alike; the server stays up and
 * nothing refused reaches the sink.
 */

const key = "hostile-key"
const authorized = (options: CallOptions): CallOptions => ({ ...options, headers: { authorization: `Bearer ${key}`, ...options.headers } })

interface Row {
  readonly name: string
  readonly method?: "GET" | "POST" | "PUT"
  readonly path?: string
  readonly send?: CallOptions
  /** Sent without the API key. */
  readonly anonymous?: boolean
  readonly status: number
  readonly field?: string | RegExp
  /** A piece of the problem's detail. */
  readonly says: string | RegExp
}

const nested = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth)
const nestedObject = (depth: number) => "{\"a\":".repeat(depth) + "1" + "}".repeat(depth)
/** `ok` as JSON text with `field` set to the JSON text `value`. */
const okWith = (field: string, value: string) => JSON.stringify({ ...ok, [field]: "@" }).replace("\"@\"", value)
const templated = (id: string, vars: unknown) => ({ json: { from: ok.from, to: ok.to, template: { id, vars } } })
const deepPath = (prefix: string, step: string) => new RegExp(`^${prefix.replace(/[.[\]]/g, "\\$&")}(${step.replace(/[.[\]]/g, "\\$&")})+`)

const rows: ReadonlyArray<Row> = [
  // Item 10: nesting too deep for recursion, answered 500 before.
  { name: "100,000 nested arrays", send: bytes(nested(100_000)), status: 400, field: deepPath("", "[0]"), says: "nested more than 64 levels" },
  { name: "100,000 nested arrays in to", send: bytes(okWith("to", nested(100_000, "\"a@example.net\""))), status: 400, field: deepPath("to", "[0]"), says: "nested more than 64 levels" },
  { name: "100,000 nested objects as headers", send: bytes(okWith("headers", nestedObject(100_000))), status: 400, field: deepPath("headers", ".a"), says: "nested more than 64 levels" },
  { name: "100,000 nested objects as template vars", send: bytes(JSON.stringify(templated("t", {}).json).replace("\"vars\":{}", `"vars":${nestedObject(100_000)}`)), status: 400, field: deepPath("template.vars", ".a"), says: "nested more than 64 levels" },
  { name: "a batch of 100,000 nested arrays", path: "/v1/messages/batch", send: bytes(`{"messages":${nested(100_000)}}`), status: 400, field: deepPath("messages", "[0]"), says: "nested more than 64 levels" },
  { name: "a suppression nested 100,000 deep", path: "/v1/suppressions", send: bytes(`{"address":${nested(100_000)}}`), status: 400, field: deepPath("address", "[0]"), says: "nested more than 64 levels" },
  { name: "a template nested 100,000 deep", method: "PUT", path: "/v1/templates/deep", send: bytes(`{"text":${nestedObject(100_000)}}`), status: 400, field: deepPath("text", ".a"), says: "nested more than 64 levels" },
  { name: "65 levels of template vars", send: templated("t", JSON.parse(nestedObject(64))), status: 400, field: deepPath("template.vars", ".a"), says: "64 levels" },
  // Item 10: what a problem repeats of the input is short (a batch of 1,001 echoed 5 MB).
  {
    name: "a batch of 1,001 messages of 5 KB",
    path: "/v1/messages/batch",
    send: { json: { messages: Array.from({ length: 1001 }, () => ({ ...ok, text: "x".repeat(5000) })) } },
    status: 400,
    field: "messages",
    says: "at most 1000"
  },
  { name: "to as a string of 100,000 characters", send: { json: { ...ok, to: "x".repeat(100_000) } }, status: 400, field: "to", says: /^Expected/ },
  { name: "from as an object of 100,000 keys", send: { json: { ...ok, from: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])) } }, status: 400, field: "from", says: /^Expected/ },
  { name: "a header name of 100,000 characters", send: { json: { ...ok, headers: { ["X".repeat(100_000)]: "v" } } }, status: 400, field: /^headers\.XXXX.*more characters\)$/, says: "HeaderName" },
  { name: "a suppression's address of 100,000 characters", path: "/v1/suppressions", send: { json: { address: ["x".repeat(100_000)] } }, status: 400, field: "address", says: /^Expected string, actual \["x+…/ },
  // Item 1: templates.
  { name: "a template of 5 MB", method: "PUT", path: "/v1/templates/big", send: { json: { text: "{{a}}".repeat(1024 * 1024) } }, status: 413, says: "(http.maxTemplateBytes) is 262144" },
  { name: "a render that takes too long", send: templated("cube", { a: Array.from({ length: 1000 }, (_, i) => i) }), status: 422, field: "template", says: "took longer than 1s to render (http.templateTimeout)" },
  { name: "a render larger than http.maxBodyBytes", send: templated("echo", { a: Array.from({ length: 1100 }, (_, i) => i), s: "y".repeat(10_000) }), status: 422, field: "template", says: "(http.maxBodyBytes)" },
  // Item 11: the server's own documents behind the keys (http.publicMetrics false).
  { name: "/metrics without a key", method: "GET", path: "/metrics", anonymous: true, status: 401, says: "http.apiKeys" },
  { name: "/openapi.json without a key", method: "GET", path: "/openapi.json", anonymous: true, status: 401, says: "http.apiKeys" },
  { name: "/docs without a key", method: "GET", path: "/docs", anonymous: true, status: 401, says: "http.apiKeys" }
]

// The templates the rows render.
const templates = {
  t: { text: "{{a}}" },
  // A billion iterations for 1,000 items.
  cube: { text: "{{#each a}}{{#each ../a}}{{#each ../../a}}x{{/each}}{{/each}}{{/each}}" },
  // 1,100 times 10,000 characters: 11 MB from a request of a few KB.
  echo: { text: "{{#each a}}{{../s}}{{/each}}" }
}

const serve = (fastPath: boolean) =>
  Effect.gen(function*() {
    const api = yield* start({ http: { apiKeys: [key], publicMetrics: false, templateTimeout: "1 second" } }, {}, { fastPath })
    for (const [id, source] of Object.entries(templates)) {
      expect((yield* api.call("PUT", `/v1/templates/${id}`, authorized({ json: source }))).status).toBe(200)
    }
    return api
  })

/** Sends `total` bytes of a body at one byte per `everyMs` and reads what comes back until the server closes. */
const trickle = (api: Running, method: string, path: string, total: number, everyMs: number) =>
  Effect.async<
    { readonly status: number; readonly headers: Record<string, string>; readonly body: any; readonly sent: number; readonly closedByServer: boolean },
    Error
  >(
    (resume) => {
      const url = new URL(api.base)
      const socket = Net.connect(Number(url.port), url.hostname)
      const received: Array<Buffer> = []
      let sent = 0
      const ticker = setInterval(() => {
        if (sent < total && socket.writable) socket.write(sent++ === 0 ? "{" : " ")
      }, everyMs)
      // A bound on the test: the server is to close long before.
      let closedByServer = true
      const giveUp = setTimeout(() => {
        closedByServer = false
        finish(new Error("the server never closed the connection"))
      }, 30_000)
      let done = false
      const finish = (error?: Error) => {
        if (done) return
        done = true
        clearInterval(ticker)
        clearTimeout(giveUp)
        socket.destroy()
        const text = Buffer.concat(received).toString()
        if (error !== undefined && text === "") return resume(Effect.fail(error))
        const [head = "", body = ""] = text.split("\r\n\r\n", 2)
        const [statusLine = "", ...lines] = head.split("\r\n")
        const headers = Object.fromEntries(lines.map((line) => {
          const colon = line.indexOf(":")
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
        }))
        resume(Effect.succeed({ status: Number(statusLine.split(" ")[1]), headers, body: JSON.parse(body), sent, closedByServer }))
      }
      socket.on("data", (part: Buffer) => received.push(part))
      socket.on("end", () => finish())
      socket.on("close", () => finish())
      // Writing on after the server closed: the answer is already in.
      socket.on("error", (error) => finish(error))
      socket.write(
        `${method} ${path} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
          `authorization: Bearer ${key}\r\ncontent-length: ${total}\r\n\r\n`
      )
      return Effect.sync(() => finish())
    }
  )

describe("hostile input over HTTP", () => {
  for (const fastPath of [true, false]) {
    it.scopedLive(`each row gets its 4xx, naming the field, in a short answer (${fastPath ? "fast path" : "HttpApi path"})`, () =>
      Effect.gen(function*() {
        const api = yield* serve(fastPath)
        for (const row of rows) {
          const send = row.send ?? {}
          const answer = yield* api.call(row.method ?? "POST", row.path ?? "/v1/messages", row.anonymous === true ? send : authorized(send))
          const context = `${row.name}: ${answer.status} ${answer.text.slice(0, 1000)}`
          expect(answer.status, context).toBe(row.status)
          expect(answer.headers["content-type"], context).toBe("application/problem+json")
          expect(answer.body, context).toMatchObject({ type: "about:blank", status: row.status })
          if (typeof row.field === "string") expect(answer.body.field, context).toBe(row.field)
          else if (row.field !== undefined) expect(answer.body.field, context).toMatch(row.field)
          if (typeof row.says === "string") expect(answer.body.detail, context).toContain(row.says)
          else expect(answer.body.detail, context).toMatch(row.says)
          // Nothing is echoed at length: the largest input above is 5 MB.
          expect(answer.text.length, context).toBeLessThan(1500)
        }
        // Nothing refused went out; the server still takes and delivers mail.
        expect(api.sink.messages).toHaveLength(0)
        expect((yield* api.call("GET", "/healthz")).status).toBe(200)
        const accepted = yield* api.call("POST", "/v1/messages", authorized(templated("t", { a: "fine" })))
        expect(accepted.status, accepted.text).toBe(202)
        yield* statusUntil({ call: (method, path, options) => api.call(method, path, authorized(options ?? {})) }, accepted.body.id, "delivered")
        expect(api.sink.messages).toHaveLength(1)
      }), 120_000)
  }

  it.scopedLive("a body trickled in is answered 408 at http.bodyTimeout and its connection closed, on every reading path", () =>
    Effect.gen(function*() {
      for (const fastPath of [true, false]) {
        const api = yield* start({ http: { apiKeys: [key], bodyTimeout: "500 millis" } }, {}, { fastPath })
        for (const [method, path] of [["POST", "/v1/messages"], ["POST", "/v1/messages/batch"], ["PUT", "/v1/templates/slow"], ["POST", "/v1/feedback"]] as const) {
          // 1,000 bytes at one per 50 ms would take 50 seconds.
          const answer = yield* trickle(api, method, path, 1000, 50)
          const context = `${fastPath} ${method} ${path}: ${JSON.stringify(answer)}`
          expect(answer.status, context).toBe(408)
          expect(answer.headers["content-type"], context).toBe("application/problem+json")
          expect(answer.headers.connection, context).toBe("close")
          expect(answer.body.detail, context).toMatch(/^the body did not arrive within 500ms \(http\.bodyTimeout\); \d+ bytes of it came$/)
          expect(answer.closedByServer, context).toBe(true)
          expect(answer.sent, context).toBeLessThan(1000)
        }
        expect((yield* api.call("GET", "/healthz")).status).toBe(200)
        expect((yield* api.call("POST", "/v1/messages", authorized({ json: ok }))).status).toBe(202)
      }
    }), 120_000)
})
