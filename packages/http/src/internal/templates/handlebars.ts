import Handlebars from "handlebars"

export type Field = "subject" | "text" | "html"
export const fields: ReadonlyArray<Field> = ["subject", "text", "html"]

export interface Problem {
  readonly field: Field
  readonly message: string
  readonly line?: number
  readonly column?: number
}

// An environment of our own: helpers or partials registered on the global Handlebars by anything
// else in the process must not change what a stored template means.
const env = Handlebars.create()

// Only html is markup; escaping text or subject would put "&amp;" in front of the reader.
const optionsFor = (field: Field): CompileOptions => ({ noEscape: field !== "html" })

/** Handlebars' exception with where it happened, as far as Handlebars says. */
export const problemOf = (field: Field, error: unknown): Problem => {
  const e = (error ?? {}) as { message?: unknown; lineNumber?: unknown; column?: unknown }
  const message = typeof e.message === "string" ? e.message : String(error)
  // Parse errors carry the line only in their message ("Parse error on line 2: ...").
  const line = typeof e.lineNumber === "number" ? e.lineNumber : Number(/on line (\d+)/.exec(message)?.[1] ?? NaN)
  return {
    field,
    message,
    ...(Number.isFinite(line) ? { line } : {}),
    ...(typeof e.column === "number" ? { column: e.column } : {})
  }
}

export type Compiled = (vars: unknown) => string

/** Compiles one field completely (Handlebars' `compile` defers errors to the first call). */
export const compile = (field: Field, source: string): Compiled | Problem => {
  try {
    const options = optionsFor(field)
    env.precompile(source, options)
    const template = env.compile(source, options)
    return (vars) => template(vars)
  } catch (error) {
    return problemOf(field, error)
  }
}

export const isProblem = (value: Compiled | Problem): value is Problem => typeof value !== "function"
