/** The test message: exactly `size` bytes, CRLF line ends, lines under 78 characters, ASCII only. */
export const FROM = "bench@sender.example"
export const TO = "sink@receiver.example"

export const makeMessage = (size = 1024): Buffer => {
  const head = [
    `From: Sluice Bench <${FROM}>`,
    `To: <${TO}>`,
    "Subject: transport benchmark",
    "Date: Mon, 01 Jan 2024 00:00:00 +0000",
    "Message-ID: <transport-benchmark@sender.example>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    ""
  ].join("\r\n")
  const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore".split(" ")
  let body = ""
  let line = ""
  for (let i = 0; head.length + body.length + line.length < size; i++) {
    const word = words[i % words.length]!
    if (line.length + word.length + 1 > 72) {
      body += `${line}\r\n`
      line = ""
    }
    line += line === "" ? word : ` ${word}`
  }
  // Trim to the size, ending on CRLF.
  const text = `${head}${body}${line}`.slice(0, size - 2).replace(/\r$/, "x") + "\r\n"
  const bytes = Buffer.from(text, "ascii")
  if (bytes.length !== size) throw new Error(`test message is ${bytes.length} bytes, not ${size}`)
  return bytes
}
