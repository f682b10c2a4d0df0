/**
 * A path into a decoded input as errors name it: `upstreams[0].port`, `messages[3].to[1]`,
 * `headers.X-Campaign`. One spelling for the configuration, a submitted message and HTTP's problems.
 */
export const pathOf = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`).join("")
