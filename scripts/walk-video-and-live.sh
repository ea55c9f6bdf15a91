#!/usr/bin/env bash
# Video and live commerce on `make run`, end to end with the real parts: staff upload a clip, it is
# transcoded (ffmpeg) and becomes playable; ada rents it and plays it through the media edge with a real
# HLS player (ffmpeg), grace cannot; a live show with a ticket goes on air on the fake IVS, staff pin a
# product and ada's WebSocket gets it, a late joiner gets the current pin; the recording keeps the pin.
# Run it in another terminal while `make run` is up (default ports): scripts/walk-video-and-live.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
FFMPEG=$($PY -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
STAFF=$($PY -m shop_devstack.signin sam); ADA=$($PY -m shop_devstack.signin ada); GRACE=$($PY -m shop_devstack.signin grace)
W=$(mktemp -d); cd "$W"; echo "(files in $W)"
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "== 1. staff upload a 6-second clip"
$FFMPEG -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 -t 6 \
  -c:v libx264 -pix_fmt yuv420p -c:a aac film.mp4
VIDEO=$(curl -s -X POST http://127.0.0.1:8102/videos -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/json' \
  -d '{"title": "My film", "notify_email": "sam@example.com"}')
ID=$(echo "$VIDEO" | j 'd["video_id"]'); URL=$(echo "$VIDEO" | j 'd["upload_url"]')
curl -s -o /dev/null -w 'PUT source: %{http_code}\n' -X PUT "$URL" -H 'Content-Type: video/mp4' --data-binary @film.mp4
curl -s -X POST http://127.0.0.1:8102/videos/$ID/upload/complete -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/json' -d '{}' | j 'd["state"]'
for i in $(seq 60); do S=$(curl -s http://127.0.0.1:8102/videos/$ID -H "Authorization: Bearer $STAFF" | j 'd["state"]'); [ "$S" = READY ] && break; sleep 2; done
curl -s http://127.0.0.1:8102/videos/$ID -H "Authorization: Bearer $STAFF" | j '(d["state"], [r["name"] for r in d["outputs"]["renditions"]], d["outputs"]["duration_ms"])'

echo "== 2. staff sell a 48-hour rental and put the T-shirt on the video's timeline"
curl -s -X POST http://127.0.0.1:8101/staff/products -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/json' \
  -d "{\"sku\": \"RENT-$ID\", \"name\": \"Rent My film for 48 hours\", \"product_type\": \"video_rental\", \"price\": {\"amount\": 399, \"currency\": \"USD\"}, \"access\": {\"video_id\": \"$ID\", \"rental_hours\": 48}}" | j 'd["status"]'
curl -s -X POST http://127.0.0.1:8101/staff/products/RENT-$ID/publish -H "Authorization: Bearer $STAFF" -H 'If-Match: "1"' | j 'd["status"]'
curl -s -X PUT http://127.0.0.1:8102/videos/$ID/markers -H "Authorization: Bearer $STAFF" -H 'If-Match: "0"' -H 'Content-Type: application/json' \
  -d '{"markers": [{"sku": "TSHIRT-BLUE-M", "start_s": 1, "end_s": 5}]}' | j '[(m["sku"], m["start_s"], m["end_s"]) for m in d["markers"]]'
sleep 2

echo "== 3. ada rents it"
ORDER=$(curl -s -X POST http://127.0.0.1:8103/orders -H "Authorization: Bearer $ADA" -H 'Content-Type: application/json' -H "Idempotency-Key: rent-$ID" \
  -d "{\"customer_email\": \"ada@example.com\", \"payment_token\": \"tok_visa\", \"lines\": [{\"sku\": \"RENT-$ID\", \"quantity\": 1}]}" | j 'd["order_id"]')
for i in $(seq 30); do S=$(curl -s http://127.0.0.1:8103/orders/$ORDER -H "Authorization: Bearer $ADA" | j 'd["status"]'); [ "$S" = DELIVERED ] && break; sleep 1; done
curl -s http://127.0.0.1:8103/orders/$ORDER -H "Authorization: Bearer $ADA" | j '(d["status"], d["fulfillment_status"], d["lines"][0]["delivery"]["status"], d["lines"][0]["delivery"]["expires_at"])'

echo "== 4. ada plays it: signed cookies, then a real HLS player (ffmpeg) through the media edge"
curl -s -c ada.cookies -X POST http://127.0.0.1:8102/videos/$ID/playback -H "Authorization: Bearer $ADA" > play.json
j '(d["master_url"], d["expires_at"], d["play_count"], [(m["sku"], m["start_s"], m["product"]["price"], m["stock"], m["purchasable"]) for m in d["markers"]])' < play.json
MASTER=$(j 'd["master_url"]' < play.json)
curl -s -o /dev/null -w 'master with cookies: %{http_code}\n' -b ada.cookies "$MASTER"
curl -s -o /dev/null -w 'master without cookies: %{http_code}\n' "$MASTER"
SEG=$(curl -s -b ada.cookies "$MASTER" | grep -v '^#' | head -1); SEGDIR=${MASTER%/master.m3u8}/${SEG%/*}
FIRST=$(curl -s -b ada.cookies "$SEGDIR/${SEG##*/}" | grep -v '^#' | head -1)
curl -s -o /dev/null -w "a segment ($FIRST) with cookies: %{http_code}\n" -b ada.cookies "$SEGDIR/$FIRST"
curl -s -o /dev/null -w "the same segment without: %{http_code}\n" "$SEGDIR/$FIRST"
COOKIE=$(j '"; ".join(f"{k}={v}" for k, v in d["cookies"].items())' < play.json)
$FFMPEG -hide_banner -loglevel error -headers "Cookie: $COOKIE"$'\r\n' -i "$MASTER" -map 0:v:0 -c copy -y watched.mp4
$FFMPEG -hide_banner -i watched.mp4 2>&1 | grep -E "Duration|Video:" | sed 's/^ */ffmpeg played: /' || true
curl -s "http://127.0.0.1:5107/admin/requests?prefix=/outputs/$ID/" | python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print("edge served", sum(1 for x in r if x["status"] in (200,206)), "files, refused", sum(1 for x in r if x["status"]==403))'
echo "grace tries:"; curl -s -X POST http://127.0.0.1:8102/videos/$ID/playback -H "Authorization: Bearer $GRACE"; echo

echo "== 5. a live show with a ticket"
SHOW=$(curl -s -X POST http://127.0.0.1:8102/live-shows -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/json' \
  -d "{\"title\": \"Studio live\", \"starts_at\": \"$(date -u -d '+10 minutes' +%Y-%m-%dT%H:%M:%SZ)\"}")
SHOW_ID=$(echo "$SHOW" | j 'd["live_show_id"]'); CHANNEL=$(echo "$SHOW" | j 'd["channel"]["arn"].rsplit("/",1)[1]')
echo "$SHOW" | j '(d["live_show_id"], d["state"])'
curl -s -X POST http://127.0.0.1:8101/staff/products -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/json' \
  -d "{\"sku\": \"LIVE-$SHOW_ID\", \"name\": \"Studio live ticket\", \"product_type\": \"live_ticket\", \"price\": {\"amount\": 1500, \"currency\": \"USD\"}, \"access\": {\"live_show_id\": \"$SHOW_ID\"}, \"stock\": 50}" | j 'd["status"]'
curl -s -X POST http://127.0.0.1:8101/staff/products/LIVE-$SHOW_ID/publish -H "Authorization: Bearer $STAFF" -H 'If-Match: "1"' | j 'd["status"]'
sleep 2
TORDER=$(curl -s -X POST http://127.0.0.1:8103/orders -H "Authorization: Bearer $ADA" -H 'Content-Type: application/json' -H "Idempotency-Key: ticket-$SHOW_ID" \
  -d "{\"customer_email\": \"ada@example.com\", \"payment_token\": \"tok_visa\", \"lines\": [{\"sku\": \"LIVE-$SHOW_ID\", \"quantity\": 1}]}" | j 'd["order_id"]')
for i in $(seq 30); do S=$(curl -s http://127.0.0.1:8103/orders/$TORDER -H "Authorization: Bearer $ADA" | j 'd["status"]'); [ "$S" = DELIVERED ] && break; sleep 1; done
echo "ticket order: $S"
sleep 35   # the show starts in 10 minutes: the announcement (every 30 s locally) tells its ticket holders
curl -s -X POST http://127.0.0.1:5108/admin/channels/$CHANNEL/broadcast; echo
for i in $(seq 60); do S=$(curl -s http://127.0.0.1:8102/live-shows/$SHOW_ID -H "Authorization: Bearer $ADA" | j 'd["state"]'); [ "$S" = LIVE ] && break; sleep 1; done
echo "show: $S"
LIVEURL=$(curl -s -X POST http://127.0.0.1:8102/live-shows/$SHOW_ID/playback -H "Authorization: Bearer $ADA" | j 'd["playback_url"]')
echo "ada's playback: ${LIVEURL%%\?*}?token=…"
$FFMPEG -hide_banner -loglevel error -i "$LIVEURL" -t 3 -c copy -y live.ts && $FFMPEG -hide_banner -i live.ts 2>&1 | grep -E "Duration" | sed 's/^ */ffmpeg watched live: /' || true
curl -s -o /dev/null -w 'the live playlist without the token: %{http_code}\n' "${LIVEURL%%\?*}"
echo "grace tries:"; curl -s -X POST http://127.0.0.1:8102/live-shows/$SHOW_ID/playback -H "Authorization: Bearer $GRACE"; echo

echo "== 6. staff pin the T-shirt; ada's player (a WebSocket) gets it; a late joiner gets the current pin"
ADA=$ADA SHOW_ID=$SHOW_ID STAFF=$STAFF $PY - <<'PYEOF'
import json, os, sys, time, urllib.request
from websockets.sync.client import connect

url = f"ws://127.0.0.1:5109/api?token={os.environ['ADA']}"
show = os.environ["SHOW_ID"]
with connect(url) as viewer:
    viewer.send(json.dumps({"action": "watch", "live_show_id": show}))
    print("viewer:", json.loads(viewer.recv())["type"])
    put = urllib.request.Request(f"http://127.0.0.1:8102/live-shows/{show}/pin", method="PUT",
        data=json.dumps({"sku": "TSHIRT-BLUE-M"}).encode(),
        headers={"Authorization": f"Bearer {os.environ['STAFF']}", "Content-Type": "application/json"})
    sent = time.monotonic()
    urllib.request.urlopen(put).read()
    pin = json.loads(viewer.recv(timeout=10))
    print(f"viewer got {pin['type']} {pin['product']} sequence {pin['sequence']} in {time.monotonic() - sent:.2f} s after the staff's PUT")
with connect(url) as late:
    late.send(json.dumps({"action": "watch", "live_show_id": show}))
    late.recv()
    pin = json.loads(late.recv(timeout=10))
    print(f"late joiner got {pin['type']} {pin['product']['sku']} sequence {pin['sequence']}")
with connect(f"ws://127.0.0.1:5109/api?token={os.popen(f"{sys.executable} -m shop_devstack.signin grace").read().strip()}") as stranger:
    stranger.send(json.dumps({"action": "watch", "live_show_id": show}))
    print("grace (no ticket):", stranger.recv(timeout=10))
PYEOF
sleep 4

echo "== 7. the show ends; its recording becomes a video with the pin on its timeline"
curl -s -X DELETE http://127.0.0.1:5108/admin/channels/$CHANNEL/broadcast; echo
for i in $(seq 90); do S=$(curl -s http://127.0.0.1:8102/live-shows/$SHOW_ID -H "Authorization: Bearer $STAFF" | j 'd["state"]'); [ "$S" = RECORDED ] && break; sleep 1; done
REC=$(curl -s http://127.0.0.1:8102/live-shows/$SHOW_ID -H "Authorization: Bearer $STAFF" | j 'd["video_id"]')
echo "show: $S, recording: $REC"
curl -s http://127.0.0.1:8102/videos/$REC/timeline -H "Authorization: Bearer $ADA" | j '[(m["sku"], m["source"], m["start_s"], m["end_s"], m["product"]["name"]) for m in d["markers"]]'

echo "== 8. the e-mails"
curl -s http://127.0.0.1:5100/moto-api/data.json | python3 -c 'import json,sys; [print(m["destinations"]["ToAddresses"], m["subject"]) for m in json.load(sys.stdin)["ses"]["Message"]]' | tail -5
