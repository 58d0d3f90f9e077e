"""A real SMTP server for the tests (aiosmtpd): listens on a free port of 127.0.0.1, prints that
port on a line of its own once it accepts connections, and saves each message it accepts to the
directory given as its one argument, as <n>.json (written whole, then renamed, so a reader never
sees half a message): the envelope, the headers, and each text part decoded, as Python's email
package reads the message. It answers like a mail server that knows its mailboxes:

- a recipient whose local part starts with `full` gets 452 (mailbox full, try again later);
- one whose local part starts with `unknown` gets 550 (no such user);
- everyone else gets 250.

It runs until its standard input closes, so it ends with the test that started it.
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class SaveToDirectory:
    def __init__(self, directory):
        self.directory = directory
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("full"):
            return "452 4.2.2 Mailbox full"
        if local.startswith("unknown"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        saved = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "headers": {name: str(value) for name, value in message.items()},
            "contentType": message.get_content_type(),
            "parts": {
                part.get_content_type(): part.get_content()
                for part in message.walk()
                if part.get_content_maintype() == "text"
            },
        }
        path = os.path.join(self.directory, f"{next(self.numbers)}.json")
        with open(path + ".part", "w", encoding="utf-8") as file:
            json.dump(saved, file)
        os.rename(path + ".part", path)
        return "250 2.0.0 Saved"


async def main(directory):
    loop = asyncio.get_running_loop()
    handler = SaveToDirectory(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.test"), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # Ends when the test closes our standard input (or the test process is gone).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
