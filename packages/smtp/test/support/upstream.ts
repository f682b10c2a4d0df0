import { SmtpOptions } from "@sluice/smtp"

let count = 0

/**
 * Options for a test server on loopback. Each call gets its own upstream name, so metrics tagged
 * with it start at zero; timeouts are short enough that a hang fails the test rather than the run.
 */
export const options = (
  server: { readonly host: string; readonly port: number },
  input: Partial<SmtpOptions.SmtpPoolInput> = {}
): SmtpOptions.SmtpPoolOptions =>
  SmtpOptions.make({
    name: `test-${process.pid}-${++count}`,
    clientName: "client.test",
    ...input,
    host: server.host,
    port: server.port,
    timeouts: { connect: "5 seconds", greeting: "5 seconds", command: "5 seconds", data: "5 seconds", ...input.timeouts }
  })
