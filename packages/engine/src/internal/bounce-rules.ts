import type { Rule } from "../Bounce.js"

/*
 * The built-in bounce classification rules: tried in order after the user's `bounces.rules`, before the
 * enhanced and basic codes' own meanings (Bounce.ts), the first rule whose every given field matches
 * giving the category. Plain data of exactly the config's rule shape, decoded with the config's schema
 * when Bounce.ts loads, so a rule here can be copied into a config file as it is (JSON escapes and all).
 *
 * Order is the point. A reply often carries several signals: Gmail's unauthenticated-mail refusal says
 * "blocked", its spam rate limit names "your SPF domain", Microsoft answers an unknown recipient with
 * 5.1.10 (null MX in the registry) or 5.4.1, Postfix a missing domain with 5.4.4. So: spam signals first,
 * then refusals of our sender and its authentication, sending limits, the state of the mailbox, then the
 * address, the route and the content, and the vaguer policy words last.
 *
 * Every rule names a code or an enhanced code: an error without a reply (refused connection, timeout)
 * is never judged by its wording, which holds addresses and host names, not a server's verdict.
 *
 * Texts as Gmail, Microsoft 365/Outlook.com, Yahoo and AOL document them, as Postfix, Exim, Sendmail,
 * qmail and Dovecot write them, and as collected in KumoMTA's bounce_classifier and ZoneMTA's
 * config/bounces.txt.
 */

// Sent as 4xx (Gmail 421-4.7.0 and 4.7.28 rate limits, Microsoft 451 4.7.650, Yahoo 421 [TSS04]) and as
// 5xx (block lists: Spamhaus, Spamcop, Barracuda, Comcast's DNSBLs, Microsoft's S3150, Yahoo's [BL21]).
// "Blacklisted by recipient" is one person's choice, a policy (the last rules).
const spam = "spam|unsolicited|junk ?mail|(black|block|deny) ?list(?!ed by (the )?recipient)|dnsbl|\\brbl|blocked using|" +
  "\\b(is|are|been) listed\\b|\\blisted (at|on|by)\\b|reputation|complain|\\bbanned\\b|\\[(TSS|IPTS|BL)\\d+\\]|" +
  "\\b(TSS|IPTS)\\d\\d\\b|not accepted from this ip|traffic not accepted|cloudmark"

// A relay's limits on us (Gmail's "Daily user sending quota exceeded", Amazon SES's "Maximum sending
// rate exceeded", Microsoft's SubmissionQuotaExceeded): not the recipient's quota.
const sendingLimit = "sending (quota|limit|rate)|(daily|hourly|message|submission|outbound|relay) (user )?(sending )?(quota|limit)|" +
  "maximum sending rate|submissionquota|throttling failure|sending paused"

const mailboxFull = "over ?quota|quota (exceeded|exceed|full)|quotaexceeded|\\b(mailbox|inbox|account|disk|storage)\\b.{0,30}\\bfull\\b|" +
  "full (mailbox|inbox)|exceeded storage allocation|out of (storage|space|disk)|(mailbox|inbox).{0,30}(size limit|quota|storage)"

export const rules: ReadonlyArray<Rule> = [
  { category: "spam-related", code: "4xx", text: spam },
  { category: "spam-related", code: "5xx", text: spam },

  // Our sender refused (RFC 3463 x.1.7, x.1.8; Sendmail's "Domain of sender address … does not exist",
  // Exim's "Sender verify failed"): never the recipient's address or domain.
  { category: "policy", enhanced: "x.1.7" },
  { category: "policy", enhanced: "x.1.8" },
  {
    category: "policy",
    code: "5xx",
    text: "sender address rejected|sender verif|verification failed for|domain of sender|sender domain|" +
      "(mail from|sender|return-path|envelope from) (address )?(is )?(rejected|refused|invalid|unknown|not allowed|not permitted)"
  },
  // SPF, DKIM, DMARC (Gmail 5.7.26 "… has been blocked because the sender is unauthenticated", Microsoft
  // 5.7.509), and AUTH to a relay (x.7.8).
  { category: "policy", enhanced: "x.7.x", text: "authenticat|\\bdmarc\\b|\\bspf\\b|\\bdkim\\b" },

  { category: "transient", code: "4xx", text: sendingLimit },
  { category: "policy", code: "5xx", text: sendingLimit },

  // Before the quota rules: Gmail's 552-5.2.2 "inbox is out of storage space and inactive" is for good.
  {
    category: "inactive-mailbox",
    code: "5xx",
    text: "\\b(account|mailbox|inbox|user)\\b.{0,40}\\b(inactive|disabled|deactivated|suspended|closed|terminated|frozen)\\b|" +
      "\\b(account|mailbox) (has |is )?(been )?expired|" +
      "\\b(inactive|disabled|deactivated|suspended|expired|closed) (account|mailbox|user|address|recipient)|" +
      "has moved|moved permanently|user not local|no forwarding address|no longer (active|in use)"
  },
  { category: "mailbox-full", code: "4xx", text: mailboxFull },
  { category: "mailbox-full", code: "5xx", text: mailboxFull },
  // Trusted over the wording below: Postfix's "552 5.2.2 cannot update mailbox … File too large".
  { category: "mailbox-full", enhanced: "x.2.2" },

  // Greylisting and rate limits come with any enhanced code (Postgrey 4.2.0 and 4.7.1, Gmail 4.2.1 "receiving
  // mail too quickly"); so do network troubles (x.4.x, which as 5xx is routing). Too many recipients is to
  // be retried whatever the class (RFC 5321 §4.5.3.1.10).
  {
    category: "transient",
    code: "4xx",
    text: "gr[ae]y-?list|try (again )?later|try again|again later|come back later|retry|temporar|\\brate|too (many|fast|quickly)|" +
      "throttl|busy|resources|congest|overload|in progress|unavailable|timed? ?out"
  },
  { category: "transient", enhanced: "4.4.x" },
  { category: "transient", enhanced: "x.5.3" },
  { category: "transient", code: "5xx", text: "too many recipients" },

  // Microsoft 365's directory-based edge blocking: the recipient does not exist.
  { category: "bad-mailbox", code: "550", enhanced: "5.4.1", text: "recipient address rejected: access denied" },
  // Before bad-mailbox's "does not exist"; Postfix says "Host or domain name not found" with 5.4.4.
  {
    category: "bad-domain",
    code: "5xx",
    text: "host or domain name not found|domain (name )?not found|no such domain|unknown domain|" +
      "domain (name )?(does not|doesn't) exist|(invalid|bad) (destination )?domain|domain (is )?(invalid|not valid)|" +
      "null mx|does not accept mail|nxdomain|unresolvable"
  },
  // Microsoft's 5.1.10 RecipientNotFound, Yahoo's 552 "mailbox not found", AT&T's 5.2.1 "Addressee
  // unknown": the wording over the code.
  {
    category: "bad-mailbox",
    code: "5xx",
    text: "user ?unknown|unknown (user|recipient|mailbox|address|alias|local[- ]?part)|" +
      "no such (user|mailbox|recipient|address|account|person)|" +
      "\\b(user|mailbox|recipient|address|account|addressee)( name)? (does not|doesn't|did not) (exist|have)|" +
      "does not exist|doesn't exist|" +
      "\\b(user|mailbox|recipient|address|addressee|account)( name)? (not found|unknown|invalid|is invalid|not valid)|" +
      "invalid (user|mailbox|recipient|address|account)|recip(ient)? ?not ?found|no mailbox|not listed in|" +
      "not our customer|bad destination mailbox"
  },
  // "Mailbox unavailable" is RFC 5321's sample text for any 550, so the code goes first: x.2.1 says
  // disabled. Without it, it is how Outlook.com (5.5.0) says the mailbox does not exist.
  { category: "inactive-mailbox", enhanced: "5.2.1" },
  { category: "bad-mailbox", code: "5xx", text: "\\b(mailbox|user|recipient) (is )?unavailable" },
  // Exim's "Unrouteable address"; Postfix's "mail for … loops back to myself".
  {
    category: "routing",
    code: "5xx",
    text: "no route|unroute?able|routing (loop|error|failed)|mail loop|loops back to myself|hop count exceeded|too many hops"
  },
  // Before "blocked" below: Gmail's 552-5.7.0 "blocked because its content presents a potential security issue".
  {
    category: "content",
    code: "5xx",
    text: "too (big|large|long)|size (limit|exceed)|(message|mail|size).{0,30}exceed|exceed.{0,30}(size|length)|" +
      "virus|malware|infected|trojan|attachment|potential security issue|rfc ?(5322|2822|822)|malformed|" +
      "bare (lf|linefeed|newline)|8-?bit|\\bmime\\b|content|header"
  },

  // qmail's "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)" has no enhanced code.
  {
    category: "policy",
    code: "5xx",
    text: "relay access denied|relaying (denied|not permitted|not allowed|prohibited|refused)|" +
      "(not permitted|unable|not allowed) to relay|we do not relay|allowed rcpthosts|relay not permitted"
  },
  // Yahoo's 5.7.9 "not accepted for policy reasons", Exim's "Administrative prohibition", "Denied by policy".
  {
    category: "policy",
    code: "5xx",
    text: "polic(y|ies)|prohibit|not authori[sz]ed|not permitted|not allowed|by (the )?recipient|administrative"
  },
  // What is left of a security or policy refusal that says "blocked" names no policy: a block on us.
  { category: "spam-related", enhanced: "x.7.x", text: "\\bblock(ed|ing)?\\b" }
]
