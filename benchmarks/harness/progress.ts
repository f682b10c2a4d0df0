/**
 * Progress on stderr: a bar redrawn in place when stderr is a terminal, else one plain line every few
 * seconds (CI logs, pipes). Work is counted in units the scenario chooses (messages here); the label
 * says what runs now.
 */
export class Progress {
  private total = 0
  private done = 0
  private label = ""
  private readonly started = Date.now()
  private lastLine = 0
  private timer: NodeJS.Timeout | undefined
  private readonly tty: boolean
  private drawn = false

  constructor(readonly scenario: string, private readonly intervalMs = process.stderr.isTTY ? 200 : 5_000) {
    this.tty = process.stderr.isTTY === true
  }

  start(total: number): void {
    this.total = total
    this.timer = setInterval(() => this.render(false), this.intervalMs)
    this.timer.unref()
  }

  /** Adds planned work (when a scenario learns of more as it goes). */
  grow(units: number): void {
    this.total += units
  }

  step(label: string): void {
    this.label = label
    this.render(true)
  }

  set(done: number): void {
    this.done = Math.min(done, this.total)
  }

  advance(units: number): void {
    this.set(this.done + units)
  }

  /** Prints a line above the bar (or as it is, without a terminal). */
  log(line: string): void {
    if (this.tty && this.drawn) process.stderr.write("\r\x1b[2K")
    process.stderr.write(`${line}\n`)
    if (this.tty && this.drawn) this.draw()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    if (this.tty && this.drawn) process.stderr.write("\r\x1b[2K")
    this.drawn = false
  }

  private render(labelChanged: boolean): void {
    if (this.tty) return this.draw()
    const now = Date.now()
    if (labelChanged || now - this.lastLine >= this.intervalMs) {
      this.lastLine = now
      process.stderr.write(`[${this.scenario}] ${this.percent().toFixed(0).padStart(3)}% ${this.elapsed()} ${this.label}\n`)
    }
  }

  private draw(): void {
    const width = 30
    const filled = Math.round((this.percent() / 100) * width)
    const bar = "█".repeat(filled) + "░".repeat(width - filled)
    const columns = process.stderr.columns ?? 100
    const line = `${this.scenario} ${bar} ${this.percent().toFixed(0).padStart(3)}% ${this.elapsed()} ${this.label}`
    process.stderr.write(`\r\x1b[2K${line.slice(0, columns - 1)}`)
    this.drawn = true
  }

  private percent(): number {
    return this.total === 0 ? 0 : (100 * this.done) / this.total
  }

  private elapsed(): string {
    const seconds = Math.floor((Date.now() - this.started) / 1000)
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`
  }
}
