/** Bounce and abuse reports as mail systems send them, built around the original a sink received. */

/** A Postfix-style bounce report for `original`, its `address` failed with a 550 5.1.1. */
export const dsn = (original: Buffer, address: string, boundary = "4Q2xLm0k3Fz9vK.1796032801/mx1.example.net") => {
  const head = `From: MAILER-DAEMON@mx1.example.net (Mail Delivery System)\r\n` +
    `To: bounces@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n` +
    `MIME-Version: 1.0\r\n`
  const contentType = `multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`
  const body = `This is a MIME-encapsulated message.\r\n\r\n` +
    `--${boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n` +
    `<${address}>: host mail.example.net[192.0.2.25] said: 550 5.1.1 <${address}>:\r\n    Recipient address rejected: User unknown\r\n\r\n` +
    `--${boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n` +
    `Reporting-MTA: dns; mx1.example.net\r\nArrival-Date: Mon, 30 Nov 2026 09:59:58 +0000 (UTC)\r\n\r\n` +
    `Final-Recipient: rfc822; ${address}\r\nOriginal-Recipient: rfc822;${address}\r\nAction: failed\r\nStatus: 5.1.1\r\n` +
    `Remote-MTA: dns; mail.example.net\r\nDiagnostic-Code: smtp; 550 5.1.1 <${address}>: Recipient address\r\n    rejected: User unknown\r\n\r\n` +
    `--${boundary}\r\nContent-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n`
  const whole = Buffer.concat([Buffer.from(`${head}Content-Type: ${contentType}\r\n\r\n${body}`), original, Buffer.from(`\r\n--${boundary}--\r\n`)])
  // A multipart/report sent as such: its Content-Type in the request's header, its MIME body as the body.
  const mimeBody = Buffer.concat([Buffer.from(body), original, Buffer.from(`\r\n--${boundary}--\r\n`)])
  return { whole, contentType: contentType.replace(/\r\n\t/g, " "), mimeBody }
}

/** A Yahoo-style abuse report (ARF) for `original`, without Original-Rcpt-To. */
export const arf = (original: Buffer) =>
  Buffer.concat([
    Buffer.from(
      `From: feedback@arf.mail.yahoo.example\r\nTo: fbl@example.com\r\nSubject: Email Feedback Report\r\nMIME-Version: 1.0\r\n` +
        `Content-Type: multipart/report; report-type=feedback-report; boundary="arf"\r\n\r\n` +
        `--arf\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n` +
        `--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: Yahoo!-Mail-Feedback/2.0\r\nVersion: 1\r\n\r\n` +
        `--arf\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n`
    ),
    original,
    Buffer.from("\r\n--arf--\r\n")
  ])
