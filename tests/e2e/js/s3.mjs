// Puts and gets an object with the SDK's default checksum behaviour (flexible
// checksums, aws-chunked bodies) using only the web-identity variables; prints
// what it read back and the checksum the server returned, as JSON.
import { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";

const [bucket, key, text] = process.argv.slice(2);
const s3 = new S3Client({ forcePathStyle: true });
const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
const body = await got.Body.transformToString();
console.log(JSON.stringify({ body, putCrc32: put.ChecksumCRC32 ?? null, getCrc32: got.ChecksumCRC32 ?? null, etag: got.ETag }));
