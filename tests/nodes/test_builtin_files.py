"""File nodes against the real platform storage (local folder and a moto S3 server on loopback) and a real S3 bucket."""

import gzip
import io
import urllib.request
import zipfile

import pytest
from openpyxl import Workbook

from apps.executions.file_models import ExecutionFile
from apps.nodes import files as node_files
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin import files
from apps.nodes.builtin.actions import CsvExportNode
from apps.nodes.datastore import DjangoNodeServices
from apps.nodes.netguard import ALLOW_PRIVATE_SETTING
from tests.executions.factories import WorkflowExecutionFactory

ALLOW = {ALLOW_PRIVATE_SETTING: True}


@pytest.fixture
def execution(db):
    return WorkflowExecutionFactory()


def ctx_for(execution, config, *, input=None, credentials=None, settings=None, node_id="n1"):
    return NodeContext(
        node_id=node_id,
        execution_id=str(execution.pk),
        organization_id=str(execution.organization_id),
        config=config,
        inputs={"main": input},
        credentials=credentials or {},
        settings=settings or {},
        services=DjangoNodeServices(str(execution.organization_id)),
    )


def run(node_cls, execution, config, **kwargs):
    return node_cls().run(ctx_for(execution, config, **kwargs)).outputs["main"]


def stored(execution, name, content, content_type=""):
    return node_files.file_store(
        organization_id=execution.organization_id,
        execution_id=execution.pk,
        name=name,
        content=content,
        content_type=content_type,
    )


# --- platform storage, both modes -------------------------------------------------------------------------------


def test_file_write_then_read_round_trips_and_lists_the_file_with_the_execution(execution, file_storage_mode):
    written = run(files.FileWriteNode, execution, {"name": "../../notes.txt", "content": "héllo"})["file"]

    assert written["name"] == "notes.txt"  # the path is dropped
    assert written["size"] == len("héllo".encode())
    assert written["storage_key"].startswith(f"{execution.organization_id}/{execution.pk}/")
    row = ExecutionFile.objects.get(pk=written["id"])
    assert (row.execution_id, row.node_id, row.sha256) == (execution.pk, "n1", written["sha256"])
    read = run(files.FileReadNode, execution, {"file": written})
    assert read["content"] == "héllo"
    assert set(written) == set(node_files.REFERENCE_KEYS)  # a reference, never the bytes


def test_file_write_of_json_and_base64(execution, local_files):
    as_json = run(files.FileWriteNode, execution, {"name": "a.json"}, input={"k": [1, 2]})["file"]
    as_b64 = run(files.FileWriteNode, execution, {"name": "b.bin", "content": "AAEC", "encoding": "base64"})["file"]

    assert run(files.FileReadNode, execution, {"as": "json"}, input=as_json)["content"] == {"k": [1, 2]}
    assert as_json["content_type"] == "application/json"
    assert run(files.FileReadNode, execution, {"file": as_b64, "as": "base64"})["content"] == "AAEC"


def test_file_read_refuses_another_organizations_file_and_a_forged_reference(execution, local_files):
    other = WorkflowExecutionFactory()
    theirs = stored(other, "secret.txt", b"theirs")

    with pytest.raises(NodeError) as foreign:
        run(files.FileReadNode, execution, {"file": theirs})
    with pytest.raises(NodeError) as forged:
        run(files.FileReadNode, execution, {"file": {"name": "x"}})

    assert foreign.value.message == node_files.FOREIGN_FILE.format(field="file")
    assert forged.value.message == node_files.NOT_A_FILE.format(field="file")


def test_a_changed_or_missing_file_is_a_clear_error(execution, local_files):
    file = stored(execution, "a.txt", b"one")
    tampered = {**file, "sha256": "0" * 64}
    node_files.file_storage().delete(file["storage_key"])

    with pytest.raises(NodeError) as missing:
        run(files.FileReadNode, execution, {"file": file})
    assert missing.value.message == node_files.FILE_MISSING.format(name="a.txt")
    again = stored(execution, "b.txt", b"two")
    with pytest.raises(NodeError) as changed:
        run(files.FileReadNode, execution, {"file": {**again, "sha256": tampered["sha256"]}})
    assert changed.value.message == node_files.FILE_CHANGED.format(name="b.txt")


def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(execution, local_files, settings):
    settings.CONCERTMASTER_FILES_MAX_BYTES = 4

    with pytest.raises(NodeError) as error:
        run(files.FileWriteNode, execution, {"name": "big.txt", "content": "12345"})

    assert error.value.message == node_files.FILE_TOO_LARGE.format(name="big.txt", size=5, limit=4)
    assert not ExecutionFile.objects.exists()
    assert not any(local_files.rglob("big.txt"))


def test_deleting_the_execution_removes_its_files_from_storage(
    execution, file_storage_mode, django_capture_on_commit_callbacks
):
    file = run(files.FileWriteNode, execution, {"name": "gone.txt", "content": "x"})["file"]
    assert node_files.file_storage().exists(file["storage_key"])

    with django_capture_on_commit_callbacks(execute=True):
        type(execution).objects.filter(pk=execution.pk).delete()  # what retention's prune does

    assert not ExecutionFile.objects.filter(pk=file["id"]).exists()
    assert not node_files.file_storage().exists(file["storage_key"])


# --- csv ------------------------------------------------------------------------------------------------------


def test_csv_parse_reads_an_uploaded_csv_with_bom_and_quotes(execution, file_storage_mode):
    file = stored(execution, "people.csv", '\ufeffname,city\r\nAda,"London, UK"\r\nBob,Paris\r\n'.encode(), "text/csv")

    parsed = run(files.CsvParseNode, execution, {}, input={"file": file})

    assert parsed == {
        "rows": [{"name": "Ada", "city": "London, UK"}, {"name": "Bob", "city": "Paris"}],
        "count": 2,
        "columns": ["name", "city"],
    }


def test_csv_parse_without_header_and_from_text_and_its_limits(execution, local_files):
    plain = run(files.CsvParseNode, execution, {"text": "1;2\n3;4\n", "delimiter": ";", "has_header": False})
    assert plain["rows"] == [["1", "2"], ["3", "4"]]
    with pytest.raises(NodeError) as too_many:
        run(files.CsvParseNode, execution, {"text": "a\n1\n2\n3\n", "max_rows": 2})
    assert too_many.value.message == files.CSV_TOO_MANY_ROWS.format(limit=2)
    with pytest.raises(NodeError) as no_file:
        run(files.CsvParseNode, execution, {})
    assert no_file.value.message == files.NO_FILE


def test_csv_export_writes_a_file_reference_the_csv_parse_node_reads_back(execution, local_files):
    rows = [{"name": "Ada", "score": 3}, {"name": "=cmd", "score": -1}]

    exported = CsvExportNode().run(ctx_for(execution, {"filename": "scores.csv"}, input=rows)).outputs["main"]

    assert exported["file"]["content_type"] == "text/csv"
    assert ExecutionFile.objects.filter(pk=exported["file"]["id"], node_id="n1").exists()
    back = run(files.CsvParseNode, execution, {"file": exported["file"]})
    assert back["rows"] == [{"name": "Ada", "score": "3"}, {"name": "'=cmd", "score": "-1"}]


# --- spreadsheet ------------------------------------------------------------------------------------------------


def test_spreadsheet_write_then_read(execution, file_storage_mode):
    rows = [{"name": "Ada", "n": 1, "tags": ["x"]}, {"name": "=evil()", "n": 2.5}]

    written = run(
        files.SpreadsheetNode, execution, {"operation": "write", "name": "out.xlsx", "sheet": "Data"}, input=rows
    )
    read = run(files.SpreadsheetNode, execution, {"operation": "read", "file": written["file"], "sheet": "Data"})

    assert written["file"]["content_type"].endswith("spreadsheetml.sheet")
    assert read["columns"] == ["name", "n", "tags"]
    assert read["rows"] == [{"name": "Ada", "n": 1, "tags": '["x"]'}, {"name": "'=evil()", "n": 2.5, "tags": None}]
    assert read["sheets"] == ["Data"]


def test_spreadsheet_read_errors_name_the_problem(execution, local_files):
    workbook, buffer = Workbook(), io.BytesIO()
    workbook.active.title = "Only"
    workbook.save(buffer)
    book = stored(execution, "b.xlsx", buffer.getvalue())
    text = stored(execution, "t.xlsx", b"not a workbook")

    with pytest.raises(NodeError) as missing:
        run(files.SpreadsheetNode, execution, {"operation": "read", "file": book, "sheet": "Nope"})
    with pytest.raises(NodeError) as bad:
        run(files.SpreadsheetNode, execution, {"operation": "read", "file": text})

    assert missing.value.message == files.SHEET_MISSING.format(name="b.xlsx", sheet="Nope", sheets="Only")
    assert bad.value.message == files.NOT_XLSX.format(name="t.xlsx")


# --- compress / decompress --------------------------------------------------------------------------------------


def test_zip_and_unzip_round_trip(execution, file_storage_mode):
    one, two = stored(execution, "a.txt", b"alpha"), stored(execution, "b.csv", b"x,y\n")

    packed = run(files.CompressNode, execution, {"format": "zip", "files": [one, two], "name": "both.zip"})["file"]
    unpacked = run(files.DecompressNode, execution, {"file": packed})

    assert unpacked["count"] == 2
    contents = {f["name"]: run(files.FileReadNode, execution, {"file": f})["content"] for f in unpacked["files"]}
    assert contents == {"a.txt": "alpha", "b.csv": "x,y\n"}


def test_gzip_and_gunzip_round_trip(execution, local_files):
    original = stored(execution, "log.txt", b"line\n" * 100)

    packed = run(files.CompressNode, execution, {"format": "gzip"}, input=original)["file"]
    unpacked = run(files.DecompressNode, execution, {}, input=packed)["file"]

    assert packed["name"] == "log.txt.gz" and packed["size"] < original["size"]
    assert (unpacked["name"], unpacked["sha256"]) == ("log.txt", original["sha256"])


def test_decompress_stops_a_zip_bomb_and_refuses_what_is_not_an_archive(execution, local_files, settings):
    settings.CONCERTMASTER_FILES_MAX_BYTES = 10_000
    bomb = stored(execution, "bomb.gz", gzip.compress(b"\0" * 1_000_000))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros", b"\0" * 1_000_000)
    zip_bomb = stored(execution, "bomb.zip", buffer.getvalue())
    junk = stored(execution, "junk.zip", b"PK junk")

    for file, message in [
        (bomb, files.ARCHIVE_TOO_LARGE.format(name="bomb.gz", limit=10_000)),
        (zip_bomb, files.ARCHIVE_TOO_LARGE.format(name="bomb.zip", limit=10_000)),
        (junk, files.NOT_ZIP.format(name="junk.zip")),
    ]:
        with pytest.raises(NodeError) as error:
            run(files.DecompressNode, execution, {"file": file})
        assert error.value.message == message
    assert ExecutionFile.objects.filter(execution=execution).count() == 3  # only the three inputs


# --- s3 ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def bucket(s3_server):
    import uuid

    name = f"reports-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


def s3_run(execution, server, config, *, data=None, **kwargs):
    credentials = {"s3": {**server.credential_data(), "kind": "aws", "internal": False, **(data or {})}}
    return run(
        files.S3Node, execution, {"credential": "s3", **config}, credentials=credentials, settings=ALLOW, **kwargs
    )


def test_s3_put_list_get_presign_delete(execution, s3_server, bucket, file_storage_mode):
    report = stored(execution, "report.csv", b"a,b\n1,2\n", "text/csv")

    put = s3_run(execution, s3_server, {"operation": "put", "bucket": bucket, "key": "out/report.csv"}, input=report)
    listed = s3_run(execution, s3_server, {"operation": "list", "bucket": bucket, "prefix": "out/"})
    got = s3_run(execution, s3_server, {"operation": "get", "bucket": bucket, "key": "out/report.csv"})
    signed = s3_run(execution, s3_server, {"operation": "presign", "bucket": bucket, "key": "out/report.csv"})

    assert put["size"] == 8
    head = s3_server.client().head_object(Bucket=bucket, Key="out/report.csv")
    assert head["ContentType"] == "text/csv"
    assert [item["key"] for item in listed["objects"]] == ["out/report.csv"]
    assert got["file"]["sha256"] == report["sha256"] and got["file"]["name"] == "report.csv"
    assert urllib.request.urlopen(signed["url"], timeout=10).read() == b"a,b\n1,2\n"
    s3_run(execution, s3_server, {"operation": "delete", "bucket": bucket, "key": "out/report.csv"})
    assert s3_run(execution, s3_server, {"operation": "list", "bucket": bucket})["count"] == 0


def test_s3_put_of_text_into_the_credentials_bucket(execution, s3_server, bucket):
    s3_run(execution, s3_server, {"operation": "put", "key": "hello.txt", "content": "hi"}, data={"bucket": bucket})

    assert s3_server.client().get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hi"


@pytest.mark.parametrize("operation", ["get", "put", "list", "delete", "presign"])
def test_s3_missing_bucket_is_a_clear_error(execution, s3_server, operation):
    config = {"operation": operation, "bucket": "no-such-bucket", "key": "k", "content": "x"}
    if operation == "list":
        del config["key"]

    with pytest.raises(NodeError) as error:
        s3_run(execution, s3_server, config)

    assert error.value.message == files.S3_NO_SUCH_BUCKET.format(bucket="no-such-bucket")
    assert error.value.retryable is False


def test_s3_missing_key_and_missing_bucket_setting(execution, s3_server, bucket):
    with pytest.raises(NodeError) as no_key:
        s3_run(execution, s3_server, {"operation": "get", "bucket": bucket, "key": "absent"})
    with pytest.raises(NodeError) as no_bucket:
        s3_run(execution, s3_server, {"operation": "list"})

    assert no_key.value.message == files.S3_NO_SUCH_KEY.format(key="absent", bucket=bucket)
    assert no_bucket.value.message == files.S3_NO_BUCKET


@pytest.mark.parametrize("bad", [{"secret_access_key": "wrong"}, {"access_key_id": "AKIAUNKNOWN00000000"}])
def test_s3_bad_credential_is_refused_by_the_server(execution, s3_auth_server, bad):
    client = s3_auth_server.client()
    client.create_bucket(Bucket="guarded-bucket")

    with pytest.raises(NodeError) as error:
        s3_run(execution, s3_auth_server, {"operation": "list", "bucket": "guarded-bucket"}, data=bad)
    good = s3_run(execution, s3_auth_server, {"operation": "list", "bucket": "guarded-bucket"})

    assert error.value.message.startswith("The S3 server refused the credential 's3'")
    assert error.value.retryable is False
    assert good["count"] == 0


def test_s3_refuses_a_private_endpoint_unless_allowed_and_a_wrong_credential_kind(execution, s3_server, bucket):
    credentials = {"s3": {**s3_server.credential_data(), "kind": "aws", "internal": False}}
    with pytest.raises(NodeError) as private:
        run(
            files.S3Node,
            execution,
            {"credential": "s3", "operation": "list", "bucket": bucket},
            credentials=credentials,
        )
    internal = {"s3": {**credentials["s3"], "internal": True}}
    listed = run(
        files.S3Node, execution, {"credential": "s3", "operation": "list", "bucket": bucket}, credentials=internal
    )
    with pytest.raises(NodeError) as kind:
        run(files.S3Node, execution, {"credential": "s3", "operation": "list"}, credentials={"s3": {"kind": "bearer"}})

    assert "private, loopback" in private.value.message
    assert listed["count"] == 0
    assert kind.value.message == files.S3_NOT_AWS.format(name="s3")


def test_s3_config_needs_a_key_for_object_operations():
    assert files.S3Node.check_config({"credential": "c", "operation": "get"}) == [
        ("/key", files.S3_NO_KEY.format(operation="get"))
    ]
    assert files.S3Node.check_config({"credential": "c", "operation": "list"}) == []


def test_file_write_bad_base64(execution, local_files):
    with pytest.raises(NodeError) as error:
        run(files.FileWriteNode, execution, {"name": "x.bin", "content": "!!", "encoding": "base64"})
    assert error.value.message == files.BAD_BASE64
    assert not ExecutionFile.objects.exists()
