import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Authorization } from "../Api.js"
import { Problem } from "../Problem.js"

// Hashing first gives equal lengths, so timingSafeEqual never leaks a key's length either.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

const unauthorized = (detail: string) => new Problem({ status: 401, detail })

// What HttpApiSecurity.bearer takes as the token: the header after "Bearer ", whatever its case.
const bearerLength = "Bearer ".length

/**
 * The check of `Authorization: Bearer <key>` against the configured keys, every key compared in
 * constant time: the 401 problem, or undefined when the header passes. Without keys, every call passes.
 */
export const make = (apiKeys: ReadonlyArray<string> | undefined): (header: string | undefined) => Problem | undefined => {
  const keys = (apiKeys ?? []).map(digest)
  return (header) => {
    if (keys.length === 0) return undefined
    if (header === undefined) return unauthorized("this call needs an Authorization: Bearer <key> header (http.apiKeys is set)")
    if (!/^bearer /i.test(header)) return unauthorized("the Authorization header must be of the form: Bearer <key>")
    const given = digest(header.slice(bearerLength))
    let matched = false
    for (const key of keys) matched = timingSafeEqual(key, given) || matched
    return matched ? undefined : unauthorized("the API key in the Authorization header is not one of http.apiKeys")
  }
}

/** The Authorization middleware of the HttpApi endpoints, on the same check. */
export const layer = (apiKeys: ReadonlyArray<string> | undefined): Layer.Layer<Authorization> => {
  const check = make(apiKeys)
  return Layer.succeed(Authorization, {
    // The token HttpApi hands over is the header's tail, which the check takes itself.
    bearer: () =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const problem = check(request.headers.authorization)
        return problem === undefined ? Effect.void : Effect.fail(problem)
      })
  })
}
