import { HttpMiddleware, HttpServerRequest } from "@effect/platform"
import { Effect, Layer } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Authorization } from "../Api.js"
import type { ApiKey } from "../HttpConfig.js"
import { Problem, toResponse } from "../Problem.js"

/** The keys, each with the name the log gives it: its own, or its place in `http.apiKeys`. */
const named = (apiKeys: ReadonlyArray<ApiKey> | undefined) =>
  (apiKeys ?? []).map((entry, i) => typeof entry === "string" ? { name: `apiKeys[${i}]`, key: entry } : entry)

// Hashing first gives equal lengths, so timingSafeEqual never leaks a key's length either.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

const unauthorized = (detail: string) => new Problem({ status: 401, detail })

// What HttpApiSecurity.bearer takes as the token: the header after "Bearer ", whatever its case.
const bearerLength = "Bearer ".length

/**
 * The check of `Authorization: Bearer <key>` against the configured keys, every key compared in
 * constant time: the 401 problem, or undefined when the header passes. Without keys, every call passes.
 */
export const make = (apiKeys: ReadonlyArray<ApiKey> | undefined): (header: string | undefined) => Problem | undefined => {
  const keys = named(apiKeys).map(({ key }) => digest(key))
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

/**
 * Who made a call, for the log of what operators do: its key's name (`{"name", "key"}` in
 * `http.apiKeys`), or for a key given alone its place there and the start of its SHA-256 (never the
 * key); "anonymous" when no keys are configured.
 */
export const caller = (apiKeys: ReadonlyArray<ApiKey> | undefined, header: string | undefined): string => {
  if (header === undefined) return "anonymous"
  const given = header.slice(bearerLength)
  const found = named(apiKeys).find(({ key }) => key === given)
  if (found === undefined) return "anonymous"
  return found.name.startsWith("apiKeys[") ? `${found.name} (sha256 ${digest(given).toString("hex").slice(0, 8)})` : found.name
}

/** The paths that tell about the server rather than take mail: with `http.apiKeys`, behind them too unless `http.publicMetrics`. */
export const operatorPaths: ReadonlyArray<string> = ["/metrics", "/openapi.json", "/docs"]

/**
 * Answers 401 to a request for one of `paths` without a key (when keys are configured), as the
 * Authorization middleware does for /v1/; everything else goes on to `app`. These paths are not
 * endpoints of one group (the OpenAPI document and its page are middleware of their own), so the check
 * wraps the whole app.
 */
export const guard = (apiKeys: ReadonlyArray<ApiKey> | undefined, paths: ReadonlyArray<string>) => {
  const check = make(apiKeys)
  const guarded = new Set(paths)
  return HttpMiddleware.make((app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const problem = guarded.has(request.url.split("?")[0]!) ? check(request.headers.authorization) : undefined
      return problem === undefined ? app : Effect.succeed(toResponse(problem))
    })
  )
}

/** The Authorization middleware of the HttpApi endpoints, on the same check. */
export const layer = (apiKeys: ReadonlyArray<ApiKey> | undefined): Layer.Layer<Authorization> => {
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
