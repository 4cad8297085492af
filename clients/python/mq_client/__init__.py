"""mq_client: Python client of the mq PostgreSQL extension, on psycopg 3.

Producer: send, send_batch, status, wait_result, request (on the caller's
connection and transaction).  Consumer: Worker (threads, waiting reads,
lease extension, ack/nack, graceful stop).  See clients/python/README.md.
"""

from .producer import (RequestFailed, Status, request, send, send_batch, status,
                       wait_result)
from .worker import Job, Worker, connect

__all__ = ["send", "send_batch", "status", "wait_result", "request", "Status",
           "RequestFailed", "Worker", "Job", "connect"]
