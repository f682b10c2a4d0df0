import type { Effect } from "effect"
import { Context, Data } from "effect"

/** A new configuration that was not taken: each issue names a field (or a section that needs a restart). */
export class ReloadRefused extends Data.TaggedError("ReloadRefused")<{
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
}> {
  override get message() {
    return this.issues.map((issue) => `${issue.path || "(config)"}: ${issue.message}`).join("\n")
  }
}

export interface Reloaded {
  /** The sections that changed (upstreams, streams, retry, …); empty when the file said the same. */
  readonly changed: ReadonlyArray<string>
}

export interface ReloadShape {
  /** Reads the configuration file again and puts it in force, or refuses it and keeps the one running. */
  readonly reload: (by: string) => Effect.Effect<Reloaded, ReloadRefused>
}

/** Live reload, as `sluice serve` provides it (POST /v1/admin/reload; SIGHUP does the same). */
export class Reload extends Context.Tag("@sluice/http/Reload")<Reload, ReloadShape>() {}
