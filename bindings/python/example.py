import os

import mailwire

with mailwire.Client(os.environ["SMTP_ADDR"], security="starttls", ca_pem=os.environ["SMTP_CA_PEM"],
                     user=os.environ["SMTP_USER"], password=os.environ["SMTP_PASSWORD"],
                     trace=lambda e: print(f"#{e.conn} {e.kind:>13}  {e.line}")) as client:
    receipt = client.send("alice@example.com", ["bob@example.net"],
                          b"From: alice@example.com\r\nSubject: Hello\r\n\r\nHi Bob.\r\n")
print("accepted:", receipt.accepted, "queue id:", receipt.queue_id)
