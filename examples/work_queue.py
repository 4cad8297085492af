#!/usr/bin/env python3
"""RabbitMQ's "Work queues" with mq: tasks shared among workers, each task
done once, a task that fails retried, a lost worker's task redelivered.

    python3 examples/work_queue.py                  # send 8 tasks, 3 workers do them, exit
    python3 examples/work_queue.py new_task A task...  # send one task (each dot: 0.1 s of work)
    python3 examples/work_queue.py worker           # work until Ctrl-C

Tasks are JSON; a dot in the text is a tenth of a second of work.  A worker
thread leases one task at a time (RabbitMQ's prefetch_count=1: fair
dispatch), acks it when done (RabbitMQ's manual ack), and its lease is
extended while it works, so a long task is not given to another worker.
"""
import collections
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import mq_client  # noqa: E402

QUEUE = "task_queue"

done = collections.Counter()
lock = threading.Lock()


def callback(job):
    task = job.body["task"]
    print(f" [x] {threading.current_thread().name} received {task!r}", flush=True)
    if "fail" in task and job.attempt == 1:
        raise RuntimeError(f"{task!r} failed on attempt 1")   # nacked, retried
    time.sleep(task.count(".") / 10)
    with lock:
        done[task] += 1
    print(f" [x] {threading.current_thread().name} done with {task!r}", flush=True)
    return {"done_by": threading.current_thread().name}


with mq_client.connect() as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS mq")
    # leases of 2 s: extended every 0.7 s while a task runs
    conn.execute("SELECT mq_create(%s, visibility_timeout => '2 seconds', max_attempts => 3,"
                 "                 backoff_base => '100 milliseconds')", (QUEUE,))
    mode = sys.argv[1] if len(sys.argv) > 1 else "both"
    if mode == "new_task":
        task = " ".join(sys.argv[2:]) or "Hello World..."
        mq_client.send(conn, QUEUE, {"task": task})
        print(f" [x] Sent {task!r}")
        sys.exit(0)
    if mode == "both":
        tasks = ["First.", "Second..", "Third...", "Fourth....", "Fifth.....",
                 "Sixth (fail).", "Seventh...........................", "Eighth."]
        mq_client.send_batch(conn, QUEUE, [{"task": t} for t in tasks])
        print(f" [x] Sent {len(tasks)} tasks")

worker = mq_client.Worker("", QUEUE, callback, concurrency=3, visibility_timeout=2,
                          retry_delay=0.1)
if mode == "worker":
    print(" [*] Waiting for tasks. To exit press CTRL+C", flush=True)
    worker.run()
    sys.exit(0)

worker.start()
while sum(done.values()) < len(tasks):
    time.sleep(0.05)
worker.stop()
print(f" [x] all {len(tasks)} tasks done, each once: {all(n == 1 for n in done.values())};"
      f" acked {worker.counts['acked']}, nacked {worker.counts['nacked']},"
      f" lease extensions {worker.counts['extended']}")
