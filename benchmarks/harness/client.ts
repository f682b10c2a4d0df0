/**
 * Runs a benchmark client (a child process the scenario forks): its report goes to the parent over
 * IPC, or to stdout when the client is run by hand; a failure exits 1 with the error on stderr.
 */
export const runClient = (name: string, run: () => Promise<unknown>): void => {
  run().then(
    (report) => {
      if (process.send === undefined) console.log(JSON.stringify(report, null, 2))
      else process.send(report, () => process.exit(0))
    },
    (error: unknown) => {
      console.error(`${name}:`, error)
      process.exit(1)
    }
  )
}
