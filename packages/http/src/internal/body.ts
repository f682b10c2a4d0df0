import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Duration, Effect, Either } from "effect"
import { isUtf8 } from "node:buffer"
import type * as Http from "node:http"
import { badRequest, Problem } from "../Problem.js"

/**
 * When the bodies being read are due. One coarse timer sweeps them all (at a quarter of the timeout,
 * at most a second) and runs only while some body is being read: a body costs a set entry, not a
 * timer. A body that arrives in its first read, as nearly all do, is never looked at.
 */
export interface Deadlines {
  readonly timeout: Duration.Duration
  /** `expire` is called once the body has taken longer than `timeout`, unless `unwatch` came first. */
  readonly watch: (expire: () => void) => Watch
  readonly unwatch: (watch: Watch) => void
}

interface Watch {
  readonly due: number
  readonly expire: () => void
}

export const deadlines = (timeout: Duration.DurationInput): Deadlines => {
  const duration = Duration.decode(timeout)
  const millis = Duration.toMillis(duration)
  const period = Math.max(10, Math.min(1000, Math.floor(millis / 4)))
  const watched = new Set<Watch>()
  let timer: NodeJS.Timeout | undefined
  const sweep = () => {
    const now = Date.now()
    for (const watch of watched) {
      if (watch.due > now) continue
      watched.delete(watch)
      watch.expire()
    }
    if (watched.size === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }
  return {
    timeout: duration,
    watch: (expire) => {
      const watch = { due: Date.now() + millis, expire }
      watched.add(watch)
      if (timer === undefined) {
        timer = setInterval(sweep, period)
        timer.unref()
      }
      return watch
    },
    unwatch: (watch) => void watched.delete(watch)
  }
}

/** What a request body may be: at most `maxBytes` (http.maxBodyBytes), arrived within `deadlines`' timeout (http.bodyTimeout). */
export interface Limits {
  readonly maxBytes: number
  readonly deadlines: Deadlines
}

const jsonType = /^application\/(?:[\w.+-]+\+)?json$/

/** 415 unless the request says it carries JSON in UTF-8 (the only charset JSON has, RFC 8259 §8.1). */
export const contentTypeProblem = (header: string | undefined): Problem | undefined => {
  // The common header, said at once.
  if (header === "application/json") return undefined
  const [type = "", ...params] = (header ?? "").split(";").map((part) => part.trim().toLowerCase())
  const charset = params.find((param) => param.startsWith("charset="))?.slice("charset=".length).replace(/"/g, "")
  if (jsonType.test(type) && (charset === undefined || charset === "utf-8" || charset === "utf8")) return undefined
  return new Problem({
    status: 415,
    detail: header === undefined
      ? "the request has no Content-Type; send the body as Content-Type: application/json"
      : `Content-Type "${header}" is not JSON in UTF-8; send the body as Content-Type: application/json`
  })
}

const tooLarge = (maxBytes: number, size: string) =>
  new Problem({ status: 413, detail: `the body is ${size} bytes; the limit (http.maxBodyBytes) is ${maxBytes}` })

/**
 * How much of a refused body is still read, and for how long, before the connection is cut: a
 * client sending more than that is not owed the bandwidth.
 */
const discardBound = (maxBytes: number): number => Math.max(4 * maxBytes, 16 * 1024 * 1024)
const lingerMillis = 30_000

/**
 * Reads the rest of a refused body into nothing and closes the connection only once it has ended,
 * so the 413 reaches the client. Closing on unread bytes makes the TCP stack answer the client's
 * next segment with a reset, which can erase the answer before the client reads it (RFC 9112 §9.6)
 * — and a blocking client reads only once it has sent everything. The 413 says `Connection: close`,
 * which Node carries out with `destroySoon` once the answer is flushed: for this socket that
 * becomes the lingering close RFC 9112 describes (our side ends, reading goes on until the body
 * ends, `discardBound` bytes or `lingerMillis`, then the socket is closed).
 */
const discardRest = (source: Http.IncomingMessage, maxBytes: number) => {
  const socket = source.socket
  const bound = discardBound(maxBytes)
  let discarded = 0
  let timer: NodeJS.Timeout | undefined
  const cut = () => {
    clearTimeout(timer)
    socket.destroy()
  }
  source.on("data", (chunk: Buffer) => {
    discarded += chunk.length
    if (discarded > bound) cut()
  })
  source.resume()
  socket.destroySoon = () => {
    socket.end()
    if (source.complete) return void (socket.writableFinished ? cut() : socket.once("finish", cut))
    source.once("end", cut)
    socket.once("close", () => clearTimeout(timer))
    timer = setTimeout(cut, lingerMillis).unref()
  }
}

const tooSlow = (timeout: Duration.Duration, size: number) =>
  new Problem({
    status: 408,
    detail: `the body did not arrive within ${Duration.format(timeout)} (http.bodyTimeout); ${size} bytes of it came`
  })

/**
 * Reads the body of `source`, refused with 413 as soon as it passes `maxBytes`: a declared
 * Content-Length over the limit before anything is read, an undeclared (chunked) one while reading.
 * The rest is never buffered, only read and discarded so that the client gets the answer. One that
 * takes longer than the timeout of `deadlines` (a client trickling it) is refused with 408, and its
 * connection closed once that is sent. `done` is called once, with the bytes or the problem; the
 * function returned stops reading without calling it.
 */
export const read = (source: Http.IncomingMessage, limits: Limits, done: (result: Buffer | Problem) => void): () => void => {
  const { deadlines, maxBytes } = limits
  const declared = source.headers["content-length"]
  if (declared !== undefined && Number(declared) > maxBytes) {
    discardRest(source, maxBytes)
    done(tooLarge(maxBytes, declared))
    return () => {}
  }
  const chunks: Array<Buffer> = []
  let size = 0
  const watch = deadlines.watch(() => {
    stop()
    chunks.length = 0
    // What still comes is read into nothing until the answer's Connection: close ends the socket.
    source.resume()
    done(tooSlow(deadlines.timeout, size))
  })
  const stop = () => {
    deadlines.unwatch(watch)
    source.off("data", onData)
    source.off("end", onEnd)
    source.off("error", onError)
    source.off("close", onError)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size <= maxBytes) return void chunks.push(chunk)
    stop()
    chunks.length = 0
    discardRest(source, maxBytes)
    done(tooLarge(maxBytes, `more than ${maxBytes}`))
  }
  const onEnd = () => {
    stop()
    done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
  }
  const onError = () => {
    stop()
    done(badRequest("the body could not be read to its end (the connection broke)"))
  }
  source.on("data", onData)
  source.once("end", onEnd)
  source.once("error", onError)
  // A client gone mid-body must end the read, not leave it waiting.
  source.once("close", onError)
  return stop
}

const readBytes = (request: HttpServerRequest.HttpServerRequest, limits: Limits): Effect.Effect<Buffer, Problem> =>
  Effect.async<Buffer, Problem>((resume) => {
    const stop = read(NodeHttpServerRequest.toIncomingMessage(request), limits, (result) =>
      resume(result instanceof Problem ? Effect.fail(result) : Effect.succeed(result)))
    return Effect.sync(stop)
  })

/** The body's bytes, whatever they are (413 over `maxBytes`, 408 too slow): for the endpoints that take more than JSON. */
export const readRaw = (request: HttpServerRequest.HttpServerRequest, limits: Limits): Effect.Effect<Buffer, Problem> =>
  readBytes(request, limits)

/** The offset of the first byte that does not start a well-formed UTF-8 sequence (called once isUtf8 said no). */
const firstInvalidUtf8 = (bytes: Buffer): number => {
  let i = 0
  while (i < bytes.length) {
    const lead = bytes[i]!
    const length = lead < 0x80 ? 1 : lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf5 ? 4 : 0
    if (length === 0 || (length > 1 && !isUtf8(bytes.subarray(i, i + length)))) return i
    i += length
  }
  return bytes.length
}

/** The JSON in a body's bytes, or the problem with them: 400 empty, not UTF-8 (with the offending byte's offset) or not JSON (with the parser's reason). */
export const parseJson = (bytes: Buffer): Either.Either<unknown, Problem> => {
  if (bytes.length === 0) return Either.left(badRequest("the body is empty; expected a JSON object"))
  if (!isUtf8(bytes)) return Either.left(badRequest(`the body is not valid UTF-8 (at byte ${firstInvalidUtf8(bytes)})`))
  try {
    return Either.right(JSON.parse(bytes.toString("utf8")) as unknown)
  } catch (error) {
    return Either.left(badRequest(`the body is not valid JSON: ${(error as Error).message}`))
  }
}

/** The request's JSON body, or the problem with it: 415 not JSON, 413 too large, 408 too slow, or what `parseJson` says. */
export const readJson = (request: HttpServerRequest.HttpServerRequest, limits: Limits): Effect.Effect<unknown, Problem> =>
  Effect.suspend(() => {
    const problem = contentTypeProblem(request.headers["content-type"])
    return problem !== undefined ? Effect.fail(problem) : Effect.flatMap(readBytes(request, limits), parseJson)
  })
