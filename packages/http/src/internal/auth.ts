import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Authorization } from "../Api.js"
import { Problem } from "../Problem.js"

// Hashing first gives equal lengths, so timingSafeEqual never leaks a key's length either.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

const unauthorized = (detail: string) => new Problem({ status: 401, detail })

/**
 * Checks `Authorization: Bearer <key>` against the configured keys, every key compared in constant
 * time. Without keys, every call passes.
 */
export const layer = (apiKeys: ReadonlyArray<string> | undefined): Layer.Layer<Authorization> => {
  const keys = (apiKeys ?? []).map(digest)
  return Layer.succeed(Authorization, {
    bearer: (token) =>
      Effect.gen(function*() {
        if (keys.length === 0) return
        const request = yield* HttpServerRequest.HttpServerRequest
        const header = request.headers.authorization
        if (header === undefined) {
          return yield* unauthorized("this call needs an Authorization: Bearer <key> header (http.apiKeys is set)")
        }
        if (!/^bearer /i.test(header)) {
          return yield* unauthorized("the Authorization header must be of the form: Bearer <key>")
        }
        const given = digest(Redacted.value(token))
        let matched = false
        for (const key of keys) matched = timingSafeEqual(key, given) || matched
        if (!matched) return yield* unauthorized("the API key in the Authorization header is not one of http.apiKeys")
      })
  })
}
