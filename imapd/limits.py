"""Every size and count limit of the IMAP protocol layer, as named constants.

Each limit says where its number comes from. The reader and the parser take them as defaults, so a
test can shrink a limit without patching globals. A limit that trips always ends as a clear
`BAD`/`NO`/`BYE` from the connection, never as a crash or a silent hang (DESIGN.md §5).
"""

from __future__ import annotations

# One command line, without its CRLF and without literal data. Dovecot's `imap_max_line_length`
# default is 64 KiB; RFC 7162 §4 asks servers to accept at least 8192 octets, and K-9 sends lines up
# to 8172 (IMAP-NOTES "Limits"). 64 KiB is 8x that: a UID set of ~10,000 ranges still fits.
MAX_LINE = 64 * 1024

# One synchronising literal. The server accepts no uploads (APPEND is refused before its literal is
# sent, DESIGN.md §5), so literals only carry LOGIN credentials, SEARCH strings, ID values and
# mailbox names: a few hundred octets. 64 KiB (one line's worth) leaves room for a pasted search
# text while staying under mox's 100 KiB and Cyrus's 128 KiB `maxliteral`.
MAX_LITERAL = 64 * 1024

# A non-synchronising literal {N+}: RFC 7888 §5 (LITERAL-) and RFC 9051 §4.3 cap it at 4096 octets;
# a larger one must be refused with BAD [TOOBIG] and its octets read and thrown away.
MAX_NONSYNC_LITERAL = 4096

# One whole command: every line plus every literal. mox's cap is 1 MiB per command; with MAX_LINE
# and MAX_LITERAL at 64 KiB that is 16 full-size pieces, and it bounds the memory one connection can
# make the reader hold to ~1 MiB plus one chunk.
MAX_COMMAND = 1024 * 1024

# Literals in one command. Each synchronising literal costs a round trip, so real clients send a
# handful (LOGIN: 2; a Thunderbird UTF-8 search: one per term). mox allows 1000; 100 is plenty and
# stops a flood of tiny non-synchronising literals from turning one command into 100k events.
MAX_LITERALS_PER_COMMAND = 100

# Nesting of SEARCH keys: each "(", NOT and OR opens a level. Thunderbird's "any of N terms" is a
# left-nested OR chain of depth N-1; 64 covers a 65-term saved search and keeps the parser and the
# evaluator far below Python's recursion limit (~3 frames per level).
MAX_SEARCH_DEPTH = 64

# RFC 2971 §3.3: "Implementations MUST NOT send more than 30 field-value pairs."
MAX_ID_PAIRS = 30

# RFC 2971 §3.3 caps ID field names at 30 octets and values at 1024. imaptest's `id` script sends 30
# long pairs and must be accepted (IMAP-NOTES 26), so both names and values get the larger cap.
MAX_ID_FIELD = 1024

# RFC 9051 §9: number = 1*DIGIT, "Unsigned 32-bit integer (0 <= n < 4,294,967,296)".
MAX_NUMBER = 2**32 - 1

# RFC 7162 §7: mod-sequence-value = 1*DIGIT, "Positive unsigned 63-bit integer (mod-sequence)".
MAX_NUMBER64 = 2**63 - 1

# Flags named in one STORE or APPEND. A real client stores one to four at a time; the per-message
# and per-mailbox keyword caps (NO [LIMIT], IMAP-NOTES "Abuse") are the handler's job.
MAX_FLAGS_PER_COMMAND = 64

# One keyword's length. Real keywords are short ($Forwarded, $MDNSent, $label1, NonJunk); they are
# stored per message, so a long one is abuse, not mail.
MAX_KEYWORD_LENGTH = 128

# COMPRESS=DEFLATE (RFC 4978) input. A few compressed bytes can stand for megabytes (deflate reaches
# about 1000:1 on zeros; issue 10: 4 GiB of zeros sent as 4.2 MB cost 11 s of server CPU), so the
# inflated bytes are capped twice. Per command: more than the largest command the reader accepts,
# plus one read of slack for the start of the next pipelined command, can only be a bomb (the
# reader would discard it anyway). Per connection: once 1 MiB has been inflated, the input may
# not expand more than 100-fold overall; real command traffic, flushed after each command, stays
# well under 10:1. Past either cap the connection ends with `* BYE` in words.
MAX_INFLATED_PER_COMMAND = MAX_COMMAND + 2 * MAX_LINE
MAX_INFLATE_RATIO = 100
INFLATE_RATIO_FLOOR = 1024 * 1024

# Patterns in one LIST-EXTENDED command (RFC 5258 §3 allows a parenthesised list). Clients send one
# or two; the cap bounds the handler's matching work.
MAX_LIST_PATTERNS = 32

# Distinct keywords per folder, and per message. At Dovecot, 3,000 new keywords in one mailbox stall
# every other session of it for seconds and 10,000 for minutes, the cost growing quadratically
# (IMAP-NOTES "Abuse seen at other servers"). Real use is a handful: Thunderbird's five $label
# tags plus user tags, Apple Mail's colour flags, $Forwarded, $MDNSent, $Junk/$NotJunk. 256 per
# folder is fifty times that, and keeps the folder's keyword list (sent in every SELECT's FLAGS
# line) under ~33 KiB at MAX_KEYWORD_LENGTH. A message carrying more than 64 keywords is abuse,
# not mail. Past either cap STORE answers NO [LIMIT], and SELECT drops \* from PERMANENTFLAGS
# once the folder is full (RFC 9051 §7.1).
MAX_KEYWORDS_PER_FOLDER = 256
MAX_KEYWORDS_PER_MESSAGE = 64

# QUOTA (RFC 9208) cannot say "no limit": every resource in a QUOTA response carries one. MailKite
# enforces none, so GETQUOTA reports the real usage against these nominal limits, chosen far above
# any real mailbox (1 TiB, 100 million messages) so no client ever warns that it is nearly full.
QUOTA_STORAGE_KIB = 1024**3
QUOTA_MESSAGES = 100_000_000

# -- cost bounds of SEARCH, SORT and THREAD (issue 10) ------------------------------------------------
# Real clients send few keys: Thunderbird's quick filter five or six, its "any of N terms" saved
# search N (see MAX_SEARCH_DEPTH), Apple Mail and K-9 a handful. The caps below are far above that
# and answer NO [LIMIT] in words, so an abusive command costs the database a bounded amount.

# Keys in one command, each NOT and OR counted (a parenthesised group is free). A SEARCH compiles
# to one SQL statement whose ANDed conditions SQLite parses into a tree at most 1,000 deep
# (SQLITE_MAX_EXPR_DEPTH), which 500 keys stay well under; PostgreSQL plans it in milliseconds.
MAX_SEARCH_KEYS = 500

# Substring keys (FROM, TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT, KEYWORD, UNKEYWORD): each is a
# LIKE over a text column, the costly part of a SEARCH. The issue asks that 400 ANDed FROM keys
# answer in well under a second, so 400 is the cap (3,000 SUBJECT keys used to end in UNAVAILABLE).
MAX_SEARCH_TEXT_KEYS = 400

# Ranges in one sequence set, for every command. MAX_LINE is 64 KiB so that a UID set of ~10,000
# ranges fits; a set of single numbers ("1,3,5,...") could carry 30,000, which nothing needs.
MAX_SEQUENCE_RANGES = 10_000

# -- the database, per command (issue 10) -------------------------------------------------------------

# Seconds one database statement of a command may run (PostgreSQL statement_timeout; on SQLite a
# progress handler). A SEARCH on a 100,000-message folder takes well under a second with the trigram
# indexes; five seconds leaves room for a loaded server and still frees a pool thread quickly.
# Setting: IMAP_COMMAND_BUDGET_MS.
COMMAND_BUDGET = 5.0

# PostgreSQL work_mem of imapd's connections, in KiB: what one sort or hash of a statement may use
# before spilling to disk (hashes may use hash_mem_multiplier times this). PostgreSQL's own default;
# pinned here so a server-wide raise for reporting does not reach imapd's many small queries.
# Setting: IMAP_DB_WORK_MEM_KIB.
DB_WORK_MEM_KIB = 4096

# The share of the database threads one mailbox's commands may hold at once, over all its
# connections in this process: half, so that a user pipelining expensive commands on several
# connections leaves the other half to everyone else (at least one thread each way).
DB_FAIR_SHARE = 0.5
