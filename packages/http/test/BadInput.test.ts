import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeHttp from "node:http"
import * as Net from "node:net"
import type { Running } from "./support/adapter.js"
import { start, statusUntil } from "./support/adapter.js"
import { bytes, cases, ok } from "./support/badInput.js"

const json = (body: unknown) => ({ json: body })

/** The server still answers and still accepts mail. */
const healthy = (api: Running) =>
  Effect.gen(function*() {
    expect((yield* api.call("GET", "/healthz")).status).toBe(200)
    const accepted = yield* api.call("POST", "/v1/messages", { json: ok })
    expect(accepted.status).toBe(202)
    return accepted.body.id as string
  })


interface Streamed {
  readonly status?: number
  readonly headers?: Record<string, string>
  readonly body?: any
  /** What the client saw instead of a whole answer (ECONNRESET, EPIPE, ...). */
  readonly error?: string
  readonly sent: number
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

type Framing = "length" | "chunked"
const pieceSize = 64 * 1024
/** The i-th piece of a JSON-looking body of `total` bytes. */
const piece = (i: number, total: number) => {
  const bytes = Buffer.alloc(Math.min(pieceSize, total - i * pieceSize), "x")
  if (i === 0) bytes.write("{\"text\":\"")
  return bytes
}

/**
 * A node:http client POSTing `total` bytes: it reads the answer while it sends, and stops sending
 * once it has it, as curl and most SDKs do.
 */
const nodeClient = (base: string, framing: Framing, total: number) =>
  Effect.async<Streamed>((resume) => {
    const url = new URL(`${base}/v1/messages`)
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (framing === "length") headers["content-length"] = String(total)
    const request = NodeHttp.request({ host: url.hostname, port: url.port, method: "POST", path: url.pathname, headers })
    let sent = 0
    let done = false
    const finish = (result: Omit<Streamed, "sent">) => {
      if (done) return
      done = true
      request.destroy()
      resume(Effect.succeed({ ...result, sent }))
    }
    request.on("response", (response) => {
      const parts: Array<Buffer> = []
      response.on("data", (part: Buffer) => parts.push(part))
      response.on("end", () =>
        finish({
          status: response.statusCode!,
          headers: response.headers as Record<string, string>,
          body: parseJson(Buffer.concat(parts).toString())
        }))
    })
    request.on("error", (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message }))
    const pump = () => {
      while (!done && sent < total) {
        const bytes = piece(sent / pieceSize, total)
        sent += bytes.length
        if (!request.write(bytes)) return void request.once("drain", pump)
      }
      if (!done) request.end()
    }
    pump()
    return Effect.sync(() => request.destroy())
  })

/**
 * A blocking client over a plain socket POSTing `total` bytes, as Python's http.client does: it
 * sends the whole request, and only then reads the answer (until the server closes).
 */
const blockingClient = (base: string, framing: Framing, total: number) =>
  Effect.async<Streamed>((resume) => {
    const url = new URL(base)
    const socket = Net.connect(Number(url.port), url.hostname)
    const received: Array<Buffer> = []
    let sent = 0
    let done = false
    const finish = (result: Omit<Streamed, "sent">) => {
      if (done) return
      done = true
      socket.destroy()
      resume(Effect.succeed({ ...result, sent }))
    }
    socket.on("error", (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message }))
    socket.on("data", (part: Buffer) => received.push(part))
    socket.on("end", () => {
      const text = Buffer.concat(received).toString()
      const [head = "", body = ""] = text.split("\r\n\r\n", 2)
      const [statusLine = "", ...lines] = head.split("\r\n")
      const headers = Object.fromEntries(lines.map((line) => {
        const colon = line.indexOf(":")
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
      }))
      finish({ status: Number(statusLine.split(" ")[1]), headers, body: parseJson(body) })
    })
    socket.pause() // it does not read until it has sent everything
    const framed = framing === "length" ? `content-length: ${total}` : "transfer-encoding: chunked"
    socket.write(`POST /v1/messages HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n${framed}\r\n\r\n`)
    const pump = () => {
      while (!done && sent < total) {
        const bytes = piece(sent / pieceSize, total)
        sent += bytes.length
        const more = framing === "length"
          ? socket.write(bytes)
          : socket.write(Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]))
        if (!more) return void socket.once("drain", pump)
      }
      if (framing === "chunked") socket.write("0\r\n\r\n")
      socket.resume()
    }
    socket.once("connect", pump)
    return Effect.sync(() => socket.destroy())
  })

describe("bad input", () => {
  it.scopedLive("each gets the right 4xx as problem+json saying what and where; the server stays up", () =>
    Effect.gen(function*() {
      const api = yield* start()
      for (const c of cases) {
        const answer = yield* api.call("POST", c.path ?? "/v1/messages", c.send)
        const context = `${c.name}: ${answer.status} ${answer.text}`
        expect(answer.status, context).toBe(c.status)
        expect(answer.headers["content-type"], context).toBe("application/problem+json")
        expect(answer.body, context).toMatchObject({ type: "about:blank", status: c.status })
        if (c.field !== undefined) expect(answer.body.field, context).toBe(c.field)
        if (typeof c.says === "string") expect(answer.body.detail, context).toContain(c.says)
        else expect(answer.body.detail, context).toMatch(c.says)
      }
      const id = yield* healthy(api)
      yield* statusUntil(api, id, "delivered")
      // Only the good message went out: nothing refused slipped through.
      expect(api.sink.messages).toHaveLength(1)
    }))

  it.scopedLive("a body over http.maxBodyBytes: 413, whether its length is declared or it streams in chunks", () =>
    Effect.gen(function*() {
      const api = yield* start({ http: { maxBodyBytes: 64 * 1024 } })
      const big = JSON.stringify({ ...ok, text: "x".repeat(100 * 1024) })
      const declared = yield* api.call("POST", "/v1/messages", bytes(big))
      expect(declared.status).toBe(413)
      expect(declared.headers["content-type"]).toBe("application/problem+json")
      expect(declared.body.detail).toContain(`the body is ${Buffer.byteLength(big)} bytes; the limit (http.maxBodyBytes) is 65536`)

      // A chunked body that would never end: refused once it passes the limit, never buffered whole.
      let sent = 0
      const endless = async function*() {
        const chunk = Buffer.alloc(16 * 1024, "x")
        yield Buffer.from("{\"text\":\"")
        for (;;) {
          sent += chunk.length
          if (sent > 64 * 1024 * 1024) return // a bound on the test, far past the limit
          yield chunk
        }
      }
      const chunked = yield* api.call("POST", "/v1/messages", {
        raw: endless(),
        headers: { "content-type": "application/json" }
      })
      expect(chunked.status).toBe(413)
      expect(chunked.body.detail).toContain("more than 65536 bytes")
      expect(sent).toBeLessThan(64 * 1024 * 1024)

      const under = yield* api.call("POST", "/v1/messages", json({ ...ok, text: "x".repeat(32 * 1024) }))
      expect(under.status).toBe(202)
      yield* healthy(api)
    }))

  it.scopedLive("a client still sending a body over the limit gets the 413 problem, not a reset", () =>
    Effect.gen(function*() {
      const limit = 64 * 1024
      const api = yield* start({ http: { maxBodyBytes: limit } })
      // Just over the limit, and far past what the sockets' buffers hold (the client is mid-write when refused).
      for (const client of [nodeClient, blockingClient]) {
        for (const framing of ["length", "chunked"] as const) {
          for (const total of [2 * limit, 8 * 1024 * 1024]) {
            const answer = yield* client(api.base, framing, total)
            const context = `${client.name} ${framing} ${total}: ${JSON.stringify(answer)}`
            expect(answer.error, context).toBeUndefined()
            expect(answer.status, context).toBe(413)
            expect(answer.headers?.["content-type"], context).toBe("application/problem+json")
            expect(answer.headers?.connection, context).toBe("close")
            expect(answer.body, context).toMatchObject({ type: "about:blank", status: 413 })
            expect(answer.body.detail, context).toContain("the limit (http.maxBodyBytes) is 65536")
            // The blocking client could only read the answer once the server had taken all it sent.
            if (client === blockingClient) expect(answer.sent, context).toBe(total)
          }
        }
      }
      yield* healthy(api)
    }))

  it.scopedLive("an unknown path or method is a 404 problem", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const unknown = yield* api.call("GET", "/v2/messages")
      expect(unknown.status).toBe(404)
      expect(unknown.headers["content-type"]).toBe("application/problem+json")
      expect(unknown.body.detail).toContain("GET /v2/messages")
      expect((yield* api.call("DELETE", "/v1/messages")).status).toBe(404)
      yield* healthy(api)
    }))
})
