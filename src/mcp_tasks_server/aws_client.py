"""One AWS client per component, opened on first use and shared by every request.

The DynamoDB backend, the SQS queue and the KMS cipher each keep one
aiobotocore client: connections are pooled, and opening a client costs far
more than a request. It is opened on first use, so a component can be built
synchronously (at import, from settings) and fails only on its first request
if AWS cannot be reached. ``aclose`` closes it; a later request opens a new
one. Credentials, endpoints and profiles are botocore's to read, as in any
AWS program.

Only the components that talk to AWS import this module, so botocore (in the
``dynamodb`` and ``encryption`` extras) stays optional for everyone else.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Generic, TypeVar

import anyio
from botocore.exceptions import BotoCoreError, NoRegionError

__all__ = ["LazyClient"]

ClientT = TypeVar("ClientT")


class LazyClient(Generic[ClientT]):
    """The client ``open_client()`` yields, opened once, on the first :meth:`get`.

    A failure to open it (no region, a bad endpoint, a missing profile) is
    raised as ``fail(message)``, the component's own error type, naming
    ``service``. ``no_region`` names the fix for a missing region.
    """

    def __init__(
        self,
        service: str,
        open_client: Callable[[], AbstractAsyncContextManager[ClientT]],
        *,
        fail: Callable[[str], Exception],
        no_region: str = "set AWS_REGION",
    ) -> None:
        self.service = service
        self._open = open_client
        self._fail = fail
        self._no_region = no_region
        self._client: ClientT | None = None
        self._stack: AsyncExitStack | None = None
        self._lock = anyio.Lock()

    @property
    def opened(self) -> ClientT | None:
        """The client, if it is open."""
        return self._client

    async def get(self) -> ClientT:
        """The shared client, opened now if it is not yet."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                try:
                    self._client = await stack.enter_async_context(self._open())
                except NoRegionError:
                    message = f"no AWS region is set for {self.service}: {self._no_region}"
                    raise self._fail(message) from None
                except BotoCoreError as exc:
                    raise self._fail(f"cannot create the {self.service} client: {exc}") from None
                self._stack = stack
            return self._client

    async def aclose(self) -> None:
        """Close the client and its connections; a later :meth:`get` opens a new one."""
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
            if stack is not None:
                await stack.aclose()
