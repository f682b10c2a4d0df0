import type { QueueError, QueueFull, SubmitError, SubmitMessage, Submitted } from "@sluice/engine"
import { Sluice } from "@sluice/engine"
import type { Exit } from "effect"
import { Cause, Effect, Either, Option, Runtime } from "effect"
import type * as Http from "node:http"
import * as Problem from "../Problem.js"
import * as auth from "./auth.js"
import type { Limits } from "./body.js"
import { contentTypeProblem, parseJson, read } from "./body.js"
import { commonBatch, isCommonMessage } from "./common.js"
import { logUnexpected, problemOf, unexpected } from "./errors.js"
import { batchResults, queued, submit, submitBatch } from "./messages.js"
import type { ApiKey } from "../HttpConfig.js"

/**
 * The fast path: the requests every client sends all day — `POST /v1/messages`,
 * `POST /v1/messages/batch`, `GET /healthz`, `GET /readyz` — answered by a plain Node request handler
 * ahead of the HttpApi app, with the same answers byte for byte. Per request there is no router, no
 * middleware, no trace span and no fiber per step: the body is read with the adapter's own reader
 * (body.ts), a common message is recognised by plain checks (common.ts) and handed to the engine
 * already decoded (`Sluice.submitBatch`); requests read together go to the engine together (group
 * commit: those read while a group commits form the next), in one Effect run through the runtime
 * captured here (one recipient lookup in the engine, one queue commit), and each request is answered
 * once its messages are durable.
 * Anything else — a template, an input that is not common (its problem is worded by the Schema
 * decode), a route with a query string — takes the Effect path: the same edge (messages.ts), or the
 * HttpApi app itself.
 */

type Answerable = Http.ServerResponse

/** In-flight counting and `Connection: close` while closing (shutdown.ts). */
export interface Closing {
  readonly enter: () => void
  readonly leave: () => void
  readonly draining: boolean
}

export interface Options {
  readonly limits: Limits
  readonly apiKeys: ReadonlyArray<ApiKey> | undefined
  readonly closing: Closing
}

/** Handles the request and answers true, or answers false and leaves it alone (to the HttpApi app). */
export type Handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => boolean

/** A request whose messages wait to go to the engine with its group. */
interface Pending {
  readonly messages: ReadonlyArray<SubmitMessage>
  /** A batch's body: answered `{"results": [...]}`; else a single message, answered with its id or its problem. */
  readonly batch: boolean
  readonly request: Http.IncomingMessage
  readonly response: Answerable
}

/** What one request is answered: a success's status and JSON, or a problem. */
type Answer = readonly [status: number, json: string] | Problem.Problem

const healthy = JSON.stringify({ status: "ok" })
const ready = JSON.stringify({ status: "ready" })
const notReady = new Problem.Problem({ status: 503, detail: "the queue is closed or no upstream can take mail" })

/** Groups the engine commits at once (the next waits for one of them to be done). */
const maxCommitting = 1

/**
 * Messages a group takes at most (a request is never split) while mail has been on the wire within
 * `idleAfterMs`: a group is composed and encoded in one turn of the event loop, so a larger one holds
 * back the replies the upstream connections wait for, and its garbage lives long enough to be
 * promoted. At 100 (a batch request, or 100 single posts) `sluice serve` delivered ~12% more, end to
 * end, for ~15% less CPU per message than with no bound, and what it accepted under load reached the
 * upstreams in tens of ms, not seconds; 300 or 500, even with two groups committing at once, delivered
 * 10–15% less (4 rounds alternating).
 */
const groupMessages = 100

/**
 * With nothing on the wire no connection waits on the event loop, and the commit is what bounds a burst:
 * one fsync'd LMDB transaction (two fdatasyncs of ~0.8 ms here) for a group of 100 messages took ~2.7 ms
 * of each ~3.6 ms cycle, and the event loop sat idle for 40% of the time. Up to a full batch request's worth (1,000)
 * share one: batches of 100 with nothing to deliver, 3 rounds alternating, 25,500–26,700 →
 * 34,300–34,900 accepted/s and 36.7 → 31.9 µs of serve CPU per message.
 */
const idleGroupMessages = 1000

/**
 * How long nothing must have been on the wire before groups grow: connections starved for a moment by
 * a busy event loop are not idle, and larger groups would starve them more (with no such wait, 2 runs
 * of 5 end to end fell into that state: ~25% fewer delivered per second).
 */
const idleAfterMs = 1000

export const make = (options: Options): Effect.Effect<Handler, never, Sluice> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<Sluice>()
    const run = Runtime.runCallback(runtime)
    const sluice = yield* Sluice
    const authorize = auth.make(options.apiKeys)
    const { closing, limits } = options

    const send = (response: Answerable, status: number, contentType: string, body: string, headers?: Record<string, string>) => {
      const head: Record<string, string | number> = { ...headers, "content-type": contentType, "content-length": Buffer.byteLength(body) }
      if (closing.draining) head.connection = "close"
      response.writeHead(status, head)
      response.end(body)
      closing.leave()
    }
    const sendJson = (response: Answerable, status: number, json: string) => send(response, status, "application/json", json)
    const sendProblem = (response: Answerable, problem: Problem.Problem) =>
      send(response, problem.status, Problem.contentType, JSON.stringify(Problem.toDocument(problem)), Problem.headersOf(problem))
    const sendAnswer = (response: Answerable, answer: Answer) =>
      answer instanceof Problem.Problem ? sendProblem(response, answer) : sendJson(response, answer[0], answer[1])

    /** A failure nobody foresaw: logged, answered 500 as the HttpApi app does (errors.ts). */
    const failed = (request: Http.IncomingMessage, responses: ReadonlyArray<Answerable>, cause: Cause.Cause<unknown>) => {
      run(logUnexpected(cause, request.method ?? "", request.url ?? ""))
      for (const response of responses) sendProblem(response, unexpected)
    }

    /** Runs `effect` on the runtime and answers with what it gives: a success, or its Problem. */
    const answerWith = <A>(
      request: Http.IncomingMessage,
      response: Answerable,
      effect: Effect.Effect<A, Problem.Problem, Sluice>,
      status: number
    ) =>
      run(effect, {
        onExit: (exit: Exit.Exit<A, Problem.Problem>) => {
          if (exit._tag === "Success") return sendJson(response, status, JSON.stringify(exit.value))
          // As renderProblems (errors.ts) tells a problem from a failure nobody foresaw.
          const failure = Cause.failureOption(exit.cause)
          if (Option.isSome(failure) && !Cause.isDie(exit.cause)) return sendProblem(response, failure.value)
          failed(request, [response], exit.cause)
        }
      })

    // Group commit: the requests read while the engine commits a group wait, and go together as the
    // next group once it is done. A commit costs the spool much more than a message (an LMDB write
    // transaction and its fsync), so the busier the server, the larger the groups and the fewer the
    // commits (up to `groupMessages`, `idleGroupMessages` while nothing is on the wire); an idle
    // server commits a request in the turn it is read.
    let pending: Array<Pending> = []
    let scheduled = false
    let committing = 0
    let lastOnWire = -Infinity

    /** The answers of a group of requests, in order; one engine call (one recipient lookup, one commit) for all. */
    const submitGroup = (group: ReadonlyArray<Pending>): Effect.Effect<ReadonlyArray<Answer>> =>
      Effect.gen(function*() {
        const all = group.flatMap(({ messages }) => messages)
        const together: Either.Either<ReadonlyArray<Either.Either<Submitted, SubmitError>>, QueueFull | QueueError> = yield* Effect
          .either(sluice.submitBatch(all))
        // A full queue refuses a whole commit before it writes anything: the requests are then tried
        // one by one, each answered what it would have been alone.
        const alone = Either.isLeft(together) && together.left._tag === "QueueFull" && group.length > 1
          ? yield* Effect.forEach(group, ({ messages }) => Effect.either(sluice.submitBatch(messages)))
          : undefined
        let offset = 0
        return group.map(({ batch, messages }, r): Answer => {
          const count = messages.length
          const mine = alone !== undefined
            ? alone[r]!
            : Either.map(together, (results) => results.slice(offset, offset += count))
          // Only a queue that cannot take them fails the request as a whole.
          if (Either.isLeft(mine)) return problemOf(mine.left)
          if (!batch) {
            const outcome = mine.right[0]!
            return Either.isRight(outcome) ? [202, JSON.stringify(queued(outcome.right))] : problemOf(outcome.left)
          }
          return [202, JSON.stringify({ results: batchResults(mine.right) })]
        })
      })

    const flush = () => {
      scheduled = false
      if (pending.length === 0 || committing >= maxCommitting) return
      const now = performance.now()
      if (sluice.onWire() > 0) lastOnWire = now
      const bound = now - lastOnWire < idleAfterMs ? groupMessages : idleGroupMessages
      let take = 0
      for (let messages = 0; take < pending.length && messages < bound; take++) messages += pending[take]!.messages.length
      const group = pending.splice(0, take)
      committing++
      run(submitGroup(group), {
        onExit: (exit) => {
          committing--
          if (pending.length > 0) schedule()
          if (exit._tag === "Failure") return failed(group[0]!.request, group.map((p) => p.response), exit.cause)
          exit.value.forEach((answer, i) => sendAnswer(group[i]!.response, answer))
        }
      })
    }

    // After the I/O of this turn of the event loop: the requests read in it go together.
    const schedule = () => {
      if (scheduled) return
      scheduled = true
      setImmediate(flush)
    }

    const enqueue = (item: Pending) => {
      pending.push(item)
      if (committing < maxCommitting) schedule()
    }

    /** Authorization, Content-Type and the body, in the order the HttpApi endpoints check them; then `use` the JSON. */
    const receive = (request: Http.IncomingMessage, response: Answerable, use: (body: unknown) => void) => {
      const problem = authorize(request.headers.authorization) ?? contentTypeProblem(request.headers["content-type"])
      if (problem !== undefined) return sendProblem(response, problem)
      read(request, limits, (bytes) => {
        if (bytes instanceof Problem.Problem) return sendProblem(response, bytes)
        const body = parseJson(bytes)
        if (Either.isLeft(body)) return sendProblem(response, body.left)
        use(body.right)
      })
    }

    const submitOne = (request: Http.IncomingMessage, response: Answerable) =>
      receive(request, response, (body) => {
        if (isCommonMessage(body)) return enqueue({ messages: [body], batch: false, request, response })
        answerWith(request, response, submit(body), 202)
      })

    const submitMany = (request: Http.IncomingMessage, response: Answerable) =>
      receive(request, response, (body) => {
        const messages = commonBatch(body)
        if (messages !== undefined) return enqueue({ messages, batch: true, request, response })
        answerWith(request, response, submitBatch(body), 202)
      })

    return (request, response) => {
      const url = request.url
      const method = request.method
      if (method === "POST") {
        if (url === "/v1/messages") return (closing.enter(), submitOne(request, response), true)
        if (url === "/v1/messages/batch") return (closing.enter(), submitMany(request, response), true)
      } else if (method === "GET") {
        if (url === "/healthz") return (closing.enter(), sendJson(response, 200, healthy), true)
        if (url === "/readyz") {
          closing.enter()
          run(sluice.ready, {
            onExit: (exit) =>
              exit._tag === "Success"
                ? exit.value ? sendJson(response, 200, ready) : sendProblem(response, notReady)
                : failed(request, [response], exit.cause)
          })
          return true
        }
      }
      return false
    }
  })
