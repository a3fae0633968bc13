import os
from datetime import date, timedelta

from satdescarga import DownloadType, Endpoints, Fiel, Query, RequestType, SatClient
from satdescarga.packages import MetadataPackage

fiel = Fiel.load("mi.cer", "mi.key", os.environ["SATDESCARGA_PASSWORD"])  # o Fiel.from_pkcs12
client = SatClient(fiel, Endpoints.cfdi())  # Endpoints.retenciones(); emulador: Endpoints.local
last_month = date.today().replace(day=1) - timedelta(days=1)
query = Query(
    start=last_month.replace(day=1),  # una fecha sola es el día completo
    end=last_month,
    download_type=DownloadType.RECEIVED,
    request_type=RequestType.METADATA,
)
request_id = client.query(query).request_id  # si el SAT no la acepta: QueryRefused
verification = client.wait(request_id, timeout=timedelta(hours=12))  # backoff con jitter
for path in client.download_all(verification, "paquetes"):  # paquetes/<IdPaquete>.zip
    with MetadataPackage(path) as package:
        for row in package:
            print(row.uuid, row.rfc_emisor, row.monto, row.estatus)
