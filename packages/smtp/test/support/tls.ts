import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Certificate {
  readonly key: string
  readonly cert: string
}

let generated: Certificate | undefined

/**
 * A throwaway self-signed certificate for 127.0.0.1 and localhost, made with openssl once per test
 * file (RSA key generation takes a moment) and valid for a day.
 */
export const certificate = (): Certificate => {
  if (generated !== undefined) return generated
  const dir = mkdtempSync(join(tmpdir(), "sluice-smtp-tls-"))
  try {
    const key = join(dir, "k.pem")
    const cert = join(dir, "c.pem")
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes",
      "-keyout", key, "-out", cert, "-days", "1",
      "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"
    ], { stdio: "ignore" })
    generated = { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") }
    return generated
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
