import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { attempt, realSleep, start } from "./support/adapter.js"

describe("closing the adapter", () => {
  it.live("stops taking connections, answers the request in flight (Connection: close), then ends", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const api = yield* start().pipe(Scope.extend(scope))
      const rest = yield* Deferred.make<void>()
      const body = async function*() {
        yield Buffer.from("{\"from\":\"me@example.com\",\"to\":[\"a@example.net\"],\"text\":\"half")
        await Effect.runPromise(Deferred.await(rest))
        yield Buffer.from(" and the rest\"}")
      }
      const inFlight = yield* attempt(api.base, "POST", "/v1/messages", {
        raw: body(),
        headers: { "content-type": "application/json" }
      }).pipe(Effect.fork)
      // Real time for the request's headers to reach the server over loopback.
      yield* realSleep(1000)

      const closing = yield* Scope.close(scope, Exit.void).pipe(Effect.fork)
      const deadline = Date.now() + 20_000
      while (Exit.isSuccess(yield* Effect.exit(attempt(api.base, "GET", "/healthz")))) {
        if (Date.now() > deadline) return yield* Effect.die(new Error("the listener never stopped"))
        yield* realSleep(20)
      }
      expect(closing.unsafePoll()).toBeNull() // still waiting for the request in flight

      yield* Deferred.succeed(rest, void 0)
      const answer = yield* Fiber.join(inFlight)
      expect(answer.status).toBe(202)
      expect(answer.body).toMatchObject({ status: "queued" })
      expect(answer.headers.connection).toBe("close")
      yield* Fiber.join(closing)
    }))
})
