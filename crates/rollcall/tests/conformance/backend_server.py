"""A HeartbeatService backend served by code the Apache Thrift compiler
generated from the seed IDL, for rollcall's master side to probe. Usage:

    backend_server.py GEN_DIR PORT BE_PORT PROBES_FILE

Answers every probe OK with its own ports, version "py-1" and start time,
and appends each TMasterInfo received to PROBES_FILE as a JSON line.
"""

import json
import sys
import time


def main():
    gen, port, be_port, probes = sys.argv[1:5]
    sys.path.insert(0, gen)
    from thrift.protocol import TBinaryProtocol
    from thrift.server import TServer
    from thrift.transport import TSocket, TTransport

    from HeartbeatService import HeartbeatService
    from HeartbeatService.ttypes import (
        TBackendInfo,
        THeartbeatResult,
        TStatus,
        TStatusCode,
    )

    started = int(time.time() * 1000)

    class Handler:
        def heartbeat(self, m):
            with open(probes, "a") as f:
                f.write(
                    json.dumps(
                        {
                            "master": "%s:%d" % (m.network_address.hostname, m.network_address.port),
                            "cluster_id": m.cluster_id,
                            "epoch": m.epoch,
                            "token": m.token,
                            "backend_ip": m.backend_ip,
                            "backend_id": m.backend_id,
                        }
                    )
                    + "\n"
                )
            return THeartbeatResult(
                status=TStatus(status_code=TStatusCode.OK),
                backend_info=TBackendInfo(
                    be_port=int(be_port),
                    http_port=8040,
                    brpc_port=8060,
                    version="py-1",
                    be_start_time=started,
                ),
            )

    server = TServer.TThreadedServer(
        HeartbeatService.Processor(Handler()),
        TSocket.TServerSocket(host="127.0.0.1", port=int(port)),
        TTransport.TBufferedTransportFactory(),
        TBinaryProtocol.TBinaryProtocolFactory(),
        daemon=True,
    )
    print("listening", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
