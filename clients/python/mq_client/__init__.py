"""mq_client: Python client of the mq PostgreSQL extension, on psycopg 3.

Producer: send, send_batch, publish, status, wait_result, request (on the
caller's connection and transaction).  Streams: append, append_batch,
consume, seek (the same).  Consumer: Worker (threads, waiting reads,
lease extension, ack/nack, graceful stop).  See clients/python/README.md.
"""

from .producer import (RequestFailed, Status, publish, request, send, send_batch,
                       status, wait_result)
from .stream import Record, append, append_batch, consume, seek
from .worker import Job, Worker, connect

__all__ = ["send", "send_batch", "publish", "status", "wait_result", "request", "Status",
           "RequestFailed", "append", "append_batch", "consume", "seek", "Record",
           "Worker", "Job", "connect"]
