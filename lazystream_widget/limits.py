"""Every size, time and count bound of the package, in one place.

Each is a named constant so that docs, tests and code agree on one number.
"""

# --- traces -----------------------------------------------------------------
#: A trace entry's ``input`` / ``output`` / ``attrs`` value is cut past this many
#: UTF-8 bytes of its JSON form; the cut value ends with TRUNCATION_MARKER.
TRACE_FIELD_MAX_BYTES = 8 * 1024
#: Appended (with the original size) to a truncated trace field.
TRUNCATION_MARKER = "…[truncated, {size} bytes in all]"
#: An error's one-line ``message`` (its headline) is its first line, with the next joined on while a line
#: ends with ":", up to this many lines...
ERROR_HEADLINE_MAX_LINES = 3
#: ...and its ``full`` message (shown in the widget's error box) keeps at most this many lines.
ERROR_MESSAGE_MAX_LINES = 40
#: An llm span records the places in ``run.text`` (and ``run.thinking``) that it streamed as at
#: most this many ``[start, end)`` ranges; a span interleaved with more writers than that gets none
#: (the widget then shows no answer link for it rather than a wrong one).
TEXT_RANGES_MAX = 32

# --- queues and sessions ------------------------------------------------------
#: An empty ``dequeue()`` may wait this long for a new item before returning
#: ``[]``; it keeps the seed's busy-poll loop cheap.
EMPTY_DEQUEUE_WAIT_S = 0.002
#: An empty ``dequeue()`` on a session opened by id (its producer is likely another process) waits
#: on an inotify descriptor of the session's queue directory, which any process's append wakes at
#: once. Each is an inotify instance (a user has 128 by default, shared by all their processes):
#: a process keeps at most this many, the least recently used closed first.
DEQUEUE_WATCHES_MAX = 16
#: During a burst (a read returned items less than this long ago) an empty ``dequeue()``
#: sleeps out the rest of this interval instead of waking once per item: the consumer
#: takes items in batches and leaves the producer the GIL. The first item after a quiet
#: spell still wakes it at once.
DEQUEUE_COALESCE_S = 0.001
#: A consumer that dequeued from a queue within this window counts as *active* on
#: it: futures of our executor then wait for their items in that queue to be read
#: before reporting done().
ACTIVE_CONSUMER_WINDOW_S = 1.0
#: ...but never longer than this after the task itself finished.
DRAIN_GRACE_S = 2.0
#: A session whose owning process is dead, or that has no readable ``owner`` file,
#: and whose files have not changed for this long is deleted by the next process
#: that opens the queue home. A live owner's session is never swept.
STALE_SESSION_AFTER_S = 60.0
#: One ``dequeue()`` reads at most this many bytes of queue file at once.
DEQUEUE_READ_CHUNK = 4 * 1024 * 1024
#: A read of a queue log first looks at this many bytes (``runtime/reading.py``, ``take``): a short
#: read tells where the log ends without asking its size; only a full window asks it and reads up to
#: ``DEQUEUE_READ_CHUNK``. Small enough to come from the heap (a 4 MiB read buffer is mapped and
#: unmapped each time), large enough for what a run appends in a display frame.
READ_PEEK_BYTES = 64 * 1024
#: One ``dequeue()`` hands over at most about this many payload bytes (always at least
#: one item, which may be up to 64 MiB); the rest stays for the next call. Bounds the
#: memory one call takes (five 64 MiB items took 792 MB in one call before).
DEQUEUE_MAX_BYTES = 16 * 1024 * 1024
#: The file backend keeps at most this many descriptors of queue files open per process
#: (least recently used closed first; a quarter of ``ulimit -n`` when that is lower), so a
#: producer writing into many sessions never runs out of descriptors. A live run holds about
#: 11 (three files per queue, its directory, its trace counter): below ~11 per concurrent run,
#: runs touched in turn reopen their files on nearly every append and read (docs/benchmarks.md).
QUEUE_DESCRIPTORS_MAX = 4096
#: A writer checks at most this often whether its session's files were deleted under it
#: (closed by the owner, or swept), and then fails with ``SessionClosedError``.
DELETED_SESSION_CHECK_S = 0.25
#: Closing a queue handle waits at most this long for the write holding its write token
#: (``runtime/descriptors.py``). A write takes microseconds; a token held longer was lost (an
#: interrupt in the one bytecode between taking it and the write's ``try``): the handle's
#: descriptors are then left open (logged) rather than closed under a write that may still use them,
#: and the cache is never stuck behind it.
WRITE_TOKEN_WAIT_S = 5.0

# --- runs ---------------------------------------------------------------------
#: Each run of a view works on a thread of its own. At most this many run threads may be
#: alive in a process at once (running, or cancelled but stuck in code that ignores the
#: cancel: Python cannot kill a thread); past it a new run fails at once with
#: ``RunLimitError`` (its status and notice say so) instead of waiting silently.
RUN_THREADS_MAX = 256

# --- model calls --------------------------------------------------------------
#: Retries of a model request that failed before its first streamed byte.
MODEL_MAX_RETRIES = 2
#: Backoff before retry n (seconds): MODEL_RETRY_BACKOFF_S * 2**(n-1).
MODEL_RETRY_BACKOFF_S = 0.5
#: Longest wait for a Retry-After header we honour.
MODEL_RETRY_AFTER_MAX_S = 10.0
#: Connect timeout and stall timeout (no byte for this long) of a model stream.
MODEL_CONNECT_TIMEOUT_S = 10.0
MODEL_READ_TIMEOUT_S = 60.0
#: Total bounds of one streamed model call, checked as each chunk arrives (a silent stream
#: is ended by the read timeout above): past either, the call ends with ``ModelError``
#: (``StreamLimitError``) and the text streamed so far is kept. Per call:
#: ``OnlineChatModule(..., max_stream_seconds=..., max_stream_chars=...)``.
MODEL_STREAM_MAX_S = 1800.0
#: Characters of content, reasoning and tool-call arguments together.
MODEL_STREAM_MAX_CHARS = 32 * 1024 * 1024
#: API keys at least this long are masked wherever a server echoes them (real keys are 20+
#: characters; masking short placeholders such as "scripted" would mangle ordinary words).
REDACT_MIN_KEY_CHARS = 16
#: How long ``TrainableModule.start()`` waits for its server to become healthy.
TRAINABLE_START_TIMEOUT_S = 120.0

# --- tools and agents ---------------------------------------------------------
#: A tool call running longer than this is abandoned with a timeout error.
TOOL_TIMEOUT_S = 60.0
#: The error text handed back to the model for a failed tool is cut here.
TOOL_ERROR_MAX_CHARS = 500
#: A tool result handed back to the model is cut past this many characters.
TOOL_RESULT_MAX_CHARS = 64 * 1024
#: The model's arguments for one tool call are refused (a tool message says why) past this
#: many characters or this nesting depth of JSON arrays/objects; nothing larger is parsed.
TOOL_ARGUMENTS_MAX_CHARS = 1_000_000
TOOL_ARGUMENTS_MAX_DEPTH = 64
#: Tools abandoned after their timeout keep their thread (Python cannot kill one). Past this
#: many still running in a process, each new abandonment also warns (``AbandonedToolsWarning``)
#: and the run's notice says to run such tools in a subprocess (docs/killable-tools.md).
TOOL_ABANDONED_WARN_AT = 8
#: Default bound on model turns of a FunctionCallAgent.
AGENT_MAX_TURNS = 10
#: While a model streams a tool call, its argument text goes to the trace as ``tool_call`` events on
#: the llm span, at most one per call per this many seconds (the first at once, the rest coalesced),
#: so the seed loop's printout of ``lazy_trace`` stays readable.
TOOL_CALL_EVENT_INTERVAL_S = 0.25
#: Argument text streamed that way per call; past it the events stop (the tool span still shows
#: the arguments, cut like any trace field).
TOOL_CALL_STREAM_MAX_CHARS = 8 * 1024
#: One tool-call event carries at most this many characters of argument text (a longer due piece goes
#: as several events): far enough under TRACE_FIELD_MAX_BYTES that the event is never cut.
TOOL_CALL_EVENT_MAX_CHARS = 1024

# --- widget -------------------------------------------------------------------
#: At most this many comm messages per second per view while streaming: one per display
#: frame. A view quiet for a frame sends its next delta at once (see ``pacing.py``).
WIDGET_MAX_MESSAGES_PER_S = 60
#: All views of a kernel together send at most this many messages per second (a token
#: bucket), well under Jupyter's ``iopub_msg_rate_limit`` of 1,000 messages/s over 3 s, past
#: which the server drops messages. Many busy views share it: each message carries more.
#: Messages that must go (a run's start and first text, its last delta and final state) come on
#: top, repaid later: 100 runs starting together add up to ~100/s to the busiest 3 s (~130/s with
#: their views' creation), hence well under 500 (the pump uses the whole budget since busy runs
#: wait in line). 300 and not 400: with 100 runs streaming, each message's kernel CPU (the pump's
#: delta, ipykernel's send, the IOPub thread) was a tenth of the kernel's whole cost (0.55 -> 0.49
#: cores, alternating runs); six views still stream at a full frame rate together, and 100 busy
#: views each still get a few messages a second, each carrying more (docs/benchmarks.md).
KERNEL_MAX_MESSAGES_PER_S = 300
#: ...with bursts of up to this many messages (e.g. many runs starting at once).
KERNEL_MESSAGE_BURST = 50
#: A view waiting in line for that budget shows nothing before its turn: its run's model stream is left
#: unread until this share of the expected wait has passed (the rest is time to read what gathered),
#: at most READ_HOLD_MAX_S, so a hundred busy runs do not each wake for every token. It also bounds how
#: much later such a run can end than its model did (its last tokens wait out the hold).
READ_HOLD_SHARE = 0.8
READ_HOLD_MAX_S = 0.25
#: The widget shows at most this many characters of answer before "show more".
WIDGET_MAX_ANSWER_CHARS = 1_000_000
#: A view keeps its last this-many runs in full in its ``runs`` trait (what the browser
#: and a saved notebook hold); older ones are summarised there (status, question, the
#: first WIDGET_SUMMARY_CHARS of the answer, a notice saying where the full run is).
#: ``StreamView(max_runs=...)``.
WIDGET_FULL_RUNS = 10
#: ...the runs before those, this many, are summarised; older ones collapse into one entry
#: saying how many there were. So a run's end sends at most WIDGET_FULL_RUNS full runs.
WIDGET_SUMMARISED_RUNS = 20
WIDGET_SUMMARY_CHARS = 280
#: A view keeps at most this many runs at all: handles in ``view.history`` and entries
#: (full or summarised) in ``runs``; older ones are dropped. ``StreamView(max_history=...)``.
WIDGET_MAX_HISTORY = 200
#: The front end (``static/widget.js`` + ``widget.css``, KaTeX and its fonts included) stays below
#: this size: anywidget loads it from a Blob URL and every saved notebook keeps a copy of it.
WIDGET_BUNDLE_MAX_BYTES = 1_100_000
#: A trace value longer than this shows folded in the widget, with "Show all".
WIDGET_VALUE_FOLD_CHARS = 2_000

# --- cassettes (recorded model traffic, lazystream_widget.cassettes) -----------
#: The record/replay proxy refuses request bodies larger than this (HTTP 413); chat
#: requests, even with a long history, are far smaller.
CASSETTE_MAX_BODY_BYTES = 32 * 1024 * 1024
#: A "no recorded request matches" error quotes at most this many characters of each
#: differing value...
CASSETTE_DIFF_CHARS = 160
#: ...and lists at most this many differences.
CASSETTE_DIFF_MAX = 4
#: A request body field that repeats an earlier request's (the tools, the conversation so
#: far) is written once and referenced, when its JSON is at least this long.
CASSETTE_REUSE_MIN_CHARS = 64
#: How often a replay that waits for its next recorded event checks whether the client
#: hung up (a cancelled run), in seconds.
CASSETTE_HANGUP_POLL_S = 0.05
#: How long leaving a recording ``cassette`` block waits for answers still streaming through its proxy
#: (a client returns at the last event, before the proxy has written the exchange).
CASSETTE_IN_FLIGHT_WAIT_S = 30.0

# --- integrations -------------------------------------------------------------
#: How often a LazyLLM run's queue (LazyLLM's own SQLite FileSystemQueue) is read while
#: nothing arrives; each read takes LazyLLM's file lock, so reading faster slows its writer.
LAZYLLM_QUEUE_POLL_S = 0.02
#: Live OTLP export: ended spans wait at most this long before they are sent in a batch.
OTLP_EXPORT_DELAY_S = 0.5
#: Live OTLP export: how long one batch may take (the exporter's retries included) before it is dropped.
OTLP_EXPORT_TIMEOUT_S = 10.0
#: Live OTLP export: spans sent in one request at most...
OTLP_MAX_BATCH = 512
#: ...and waiting at most (older ones are dropped first when a collector is far slower than the runs).
OTLP_MAX_QUEUED_SPANS = 2048
#: Live OTLP export: until the collector has answered once, a run waits this long at its end for that
#: answer, so a collector that cannot be reached is reported (one notice) on the very first run.
OTLP_FIRST_EXPORT_WAIT_S = 1.0

# --- Stop and resync while a cell is busy (lazystream_widget/control.py, js/control.js) ---
#: How long a new view waits for the kernel to create the subshell that takes Stop and resync requests.
CONTROL_SUBSHELL_START_TIMEOUT_S = 5.0
#: A resync reply carries at most this many runs (the newest); older ones follow on a later request.
RESYNC_MAX_RUNS = 50
#: Browser side (mirrored in js/control.js): with no reply to Stop after this long, the button says the
#: kernel is busy and the run stops when the running cell finishes.
STOP_NO_REPLY_MS = 1500
#: Browser side: the first resync request goes this long after a gap in the message numbers (a burst
#: of gaps makes one request)...
RESYNC_MIN_INTERVAL_MS = 250
#: ...each further one in the same episode (more was lost after a reply) waits twice the last, up to this...
RESYNC_MAX_INTERVAL_MS = 4000
#: ...are repeated this long after one that got no reply...
RESYNC_RETRY_MS = 2000
#: ...at most this many times in a row (then the run's final state, sent last, catches the browser up).
RESYNC_MAX_ATTEMPTS = 5

# --- marimo (lazystream_widget/frontends.py) ------------------------------------
#: In marimo, messages sent before a view's front end starts are dropped; the view then
#: refreshes its ``runs`` trait with what was sent, first this long after a message...
MARIMO_CATCH_UP_FIRST_S = 0.25
#: ...then at doubling intervals up to this one, until the browser sends the kernel a message.
MARIMO_CATCH_UP_MAX_INTERVAL_S = 2.0

# --- the Redis queue backend (LAZYSTREAM_QUEUE=redis://...) ------------------------
#: Each queue's stream is trimmed to about this many items (``XADD ... MAXLEN ~``): Redis keeps
#: a bounded amount per queue. A consumer more than this many items behind loses the oldest,
#: and a watcher attaching late to a longer run misses its beginning (it is told so).
REDIS_STREAM_MAXLEN = 1_000_000
#: Default of the ``queue_expiry`` setting: a session's keys are deleted by Redis this long after
#: its last write, or after its owner closed it (a day).
REDIS_SESSION_EXPIRY_S = 24 * 3600
#: A producer retries a write this long (reconnecting, with backoff) while Redis is unreachable,
#: then fails the run with QueueUnavailableError: it never hangs.
REDIS_PRODUCER_RETRY_S = 10.0
#: Backoff between reconnect attempts: starts here, doubles, and stays at most REDIS_RETRY_BACKOFF_MAX_S.
REDIS_RETRY_BACKOFF_S = 0.05
REDIS_RETRY_BACKOFF_MAX_S = 1.0
#: Connect and read timeouts of one Redis command (blocking reads add their own block time).
REDIS_SOCKET_TIMEOUT_S = 5.0
#: Connections one Redis backend opens at most (more threads wait for a free one). Commands are
#: short and Python runs one thread at a time, so a few dozen serve hundreds of busy sessions.
REDIS_MAX_CONNECTIONS = 32
#: One destructive or replaying read takes at most this many items from a stream at once.
REDIS_READ_BATCH = 5_000
#: The process's one waiting reader (``runtime/redis_reader.py``: one XREAD over every watched session)
#: fetches at most this many new items per stream per wake-up; a stream further behind is skipped to
#: its end in one more round trip (the reader only needs to know that something came).
REDIS_WAIT_READ_COUNT = 16
#: A session whose empty ``dequeue()`` waited is followed by that reader until no empty dequeue
#: waited on it for this long (or its session is released), so the seed's polling loop is woken by
#: an append from any process without re-subscribing at every call.
REDIS_WAIT_IDLE_S = 10.0
