// The HLS player: hls.js on MediaSource (every browser but Safari on iOS), the browser's own HLS where
// it has one. Native controls, so it is keyboard operable as any <video>. A VOD stream's files are
// protected by signed cookies set for the media edge (same host, another port locally; a sibling
// domain on AWS): hls.js sends them with `withCredentials`.
import type Hls from "hls.js";
import { useEffect, useRef } from "preact/hooks";

export interface PlayerProps {
  src: string;
  label: string;
  withCredentials?: boolean;
  live?: boolean;
  onTime?: (seconds: number) => void;
  /** A fatal error the player could not get over (network, media); the page says what happened. */
  onFatal?: (details: string) => void;
  videoRef?: { current: HTMLVideoElement | null };
}

export function HlsPlayer(props: PlayerProps) {
  const own = useRef<HTMLVideoElement | null>(null);
  const { src, withCredentials, onFatal, onTime } = props;
  const callbacks = useRef({ onFatal, onTime });
  callbacks.current = { onFatal, onTime };

  useEffect(() => {
    const video = own.current;
    if (!video) return;
    if (props.videoRef) props.videoRef.current = video;
    let hls: Hls | null = null;
    let cancelled = false;
    const start = () => void video.play().catch(() => undefined); // blocked autoplay: the person presses play
    void import("hls.js").then(({ default: HlsJs }) => {
      if (cancelled) return;
      if (HlsJs.isSupported()) {
        hls = new HlsJs({
          xhrSetup: withCredentials
            ? (xhr: XMLHttpRequest) => {
                xhr.withCredentials = true;
              }
            : undefined,
        });
        hls.on(HlsJs.Events.MANIFEST_PARSED, start);
        hls.on(HlsJs.Events.ERROR, (_event, data) => {
          if (!data.fatal) return;
          if (data.type === HlsJs.ErrorTypes.MEDIA_ERROR) {
            hls?.recoverMediaError();
            return;
          }
          callbacks.current.onFatal?.(`${data.type}: ${data.details}`);
        });
        hls.loadSource(src);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = src;
        video.addEventListener("loadedmetadata", start, { once: true });
      } else {
        callbacks.current.onFatal?.("unsupported");
      }
    });
    return () => {
      cancelled = true;
      hls?.destroy();
      video.removeAttribute("src");
    };
  }, [src, withCredentials]);

  return (
    <video
      ref={own}
      class="player"
      controls
      playsInline
      crossOrigin={withCredentials ? "use-credentials" : "anonymous"}
      aria-label={props.label}
      data-testid="player"
      onTimeUpdate={(event) => callbacks.current.onTime?.((event.currentTarget as HTMLVideoElement).currentTime)}
    />
  );
}
