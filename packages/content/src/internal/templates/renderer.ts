import type { Scope } from "effect"
import { Duration, Effect } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import { source } from "./worker.js"

export type Field = "subject" | "text" | "html"
export const fields: ReadonlyArray<Field> = ["subject", "text", "html"]

export type Sources = Partial<Record<Field, string>>
export type Rendered = Partial<Record<Field, string>>

/** What Handlebars said is wrong with a template, and where as far as it says. */
export interface Problem {
  readonly field: Field | "template"
  readonly message: string
  readonly line?: number
  readonly column?: number
}

/** How a compile or a render ended, as values: the caller words them. */
export type Outcome<A> =
  | { readonly _tag: "Done"; readonly value: A }
  /** The worker holds no template under that key (it was replaced, or let it go): compile it again. */
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Invalid"; readonly problem: Problem }
  | { readonly _tag: "TooLarge"; readonly field: Field; readonly bytes: number }
  | { readonly _tag: "TimedOut" }
  /** The worker died under it (out of memory, most likely). */
  | { readonly _tag: "Crashed"; readonly reason: string }

export interface Options {
  /** Worker threads (each started on first use). */
  readonly workers: number
  /** How long one compile or render may take before its worker is stopped. */
  readonly timeout: Duration.DurationInput
  /** Heap a worker may use; over it the worker dies and what it was doing is refused. */
  readonly maxHeapMb: number
  /** Generated code a worker keeps compiled templates for, least recently used let go first. */
  readonly maxCodeBytes: number
  /** What Handlebars logs (its prototype guard's warnings), and anything a worker writes to its console. */
  readonly onLog: (level: string, message: string) => void
}

export interface Renderer {
  readonly compile: (key: string, sources: Sources) => Effect.Effect<Outcome<void>>
  readonly render: (key: string, vars: unknown, maxBytes: number) => Effect.Effect<Outcome<Rendered>>
}

type Reply =
  | { readonly id: number; readonly ok: true }
  | { readonly id: number; readonly rendered: Rendered }
  | { readonly id: number; readonly missing: true }
  | { readonly id: number; readonly problem: Problem }
  | { readonly id: number; readonly tooLarge: { readonly field: Field; readonly bytes: number } }
  | { readonly log: { readonly level: string; readonly message: string } }
  | { readonly ready: true }

interface Job {
  readonly request: Record<string, unknown>
  readonly done: (outcome: Outcome<unknown>) => void
  cancelled: boolean
}

/** A worker and what waits for it: one job at a time, so a timeout blames the right one. */
interface Lane {
  worker: Worker | undefined
  /** The worker has loaded Handlebars: a job's time starts when it is handed over, not while a worker starts. */
  ready: boolean
  current: { readonly id: number; readonly job: Job; readonly timer: NodeJS.Timeout } | undefined
  readonly queue: Array<Job>
}

const outcomeOf = (reply: Reply): Outcome<unknown> =>
  "rendered" in reply
    ? { _tag: "Done", value: reply.rendered }
    : "ok" in reply
    ? { _tag: "Done", value: undefined }
    : "missing" in reply
    ? { _tag: "Missing" }
    : "tooLarge" in reply
    ? { _tag: "TooLarge", ...reply.tooLarge }
    : { _tag: "Invalid", problem: (reply as { problem: Problem }).problem }

// What a worker writes to its console is kept to this much per line in the log.
const maxLogChars = 200
const capped = (text: string) => text.length <= maxLogChars ? text : `${text.slice(0, maxLogChars)}… (${text.length - maxLogChars} more characters)`

// Where the worker loads Handlebars from: resolved here, where this module (or the bundle) is, since
// the worker's own resolution would start from the process's working directory.
const handlebars = createRequire(import.meta.url).resolve("handlebars")

/**
 * Compiles and renders Handlebars templates in worker threads, never on the event loop: a template's
 * compile costs time and memory in proportion to its size with a large factor (seconds and hundreds of
 * MB for a 256 KiB one), and a render can loop as long as its vars let it. Each job has `timeout`; a
 * worker over it, or over its heap, is stopped and replaced, and only its current job is refused. A
 * key always goes to the same worker, which keeps what it compiled under it.
 */
export const make = (options: Options): Effect.Effect<Renderer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timeoutMs = Duration.toMillis(Duration.decode(options.timeout))
    const lanes: Array<Lane> = Array.from({ length: Math.max(1, options.workers) }, () => ({
      worker: undefined,
      ready: false,
      current: undefined,
      queue: []
    }))
    let nextId = 0
    let closed = false

    const finish = (lane: Lane, outcome: Outcome<unknown>) => {
      const current = lane.current
      if (current === undefined) return
      clearTimeout(current.timer)
      lane.current = undefined
      current.job.done(outcome)
      dispatch(lane)
    }

    const stop = (lane: Lane, outcome: Outcome<unknown>) => {
      const worker = lane.worker
      lane.worker = undefined
      void worker?.terminate()
      finish(lane, outcome)
    }

    const readConsole = (stream: NodeJS.ReadableStream, level: string) => {
      let partial = ""
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n")
        partial = lines.pop()!
        for (const line of lines) if (line !== "") options.onLog(level, capped(line))
      })
    }

    const spawn = (lane: Lane): Worker => {
      const worker = new Worker(source, {
        eval: true,
        workerData: { handlebars, maxCodeBytes: options.maxCodeBytes },
        resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
        // Its console is ours to read: nothing reaches stdout that is not a log record.
        stdout: true,
        stderr: true
      })
      readConsole(worker.stdout, "info")
      readConsole(worker.stderr, "error")
      worker.on("message", (reply: Reply) => {
        if ("log" in reply) return options.onLog(reply.log.level, capped(reply.log.message))
        if ("ready" in reply) {
          if (lane.worker === worker) lane.ready = true
          return dispatch(lane)
        }
        if (lane.worker === worker && lane.current?.id === reply.id) finish(lane, outcomeOf(reply))
      })
      const died = (reason: string) => {
        if (lane.worker !== worker) return
        if (lane.ready) return stop(lane, { _tag: "Crashed", reason })
        // One that cannot start would not start again: what waits for it is refused, not retried forever.
        lane.worker = undefined
        for (const job of lane.queue.splice(0)) job.done({ _tag: "Crashed", reason: `its worker could not start: ${reason}` })
      }
      worker.on("error", (error) => died(error.message))
      worker.on("exit", (code) => died(`its worker exited (code ${code})`))
      return worker
    }

    const dispatch = (lane: Lane) => {
      while (!closed && lane.current === undefined && lane.queue.length > 0) {
        if (lane.worker === undefined) {
          lane.ready = false
          lane.worker = spawn(lane)
        }
        if (!lane.ready) return
        const job = lane.queue.shift()!
        if (job.cancelled) continue
        const worker = lane.worker
        const id = nextId++
        try {
          worker.postMessage({ ...job.request, id })
        } catch (error) {
          // Vars that cannot be copied to the worker (never JSON's).
          job.done({ _tag: "Invalid", problem: { field: "template", message: `its vars cannot be rendered: ${(error as Error).message}` } })
          continue
        }
        const timer = setTimeout(() => stop(lane, { _tag: "TimedOut" }), timeoutMs)
        lane.current = { id, job, timer }
      }
    }

    // The same key to the same worker, where it was compiled.
    const laneOf = (key: string) => {
      let hash = 0
      for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0
      return lanes[Math.abs(hash) % lanes.length]!
    }

    const submit = <A>(key: string, request: Record<string, unknown>) =>
      Effect.async<Outcome<A>>((resume) => {
        const job: Job = { request, done: (outcome) => resume(Effect.succeed(outcome as Outcome<A>)), cancelled: false }
        const lane = laneOf(key)
        lane.queue.push(job)
        dispatch(lane)
        // A job already running goes on to its end or its timeout; its answer is dropped.
        return Effect.sync(() => job.cancelled = true)
      })

    // Closing stops the workers; what still waits for one is told so.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        closed = true
        const gone: Outcome<never> = { _tag: "Crashed", reason: "the renderer is closed" }
        await Promise.all(lanes.map((lane) => {
          const worker = lane.worker
          lane.worker = undefined
          finish(lane, gone)
          for (const job of lane.queue.splice(0)) job.done(gone)
          return worker?.terminate()
        }))
      })
    )

    return {
      compile: (key, sources) => submit<void>(key, { op: "compile", key, source: sources }),
      render: (key, vars, maxBytes) => submit<Rendered>(key, { op: "render", key, vars, maxBytes })
    }
  })
