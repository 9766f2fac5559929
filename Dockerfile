# syntax=docker/dockerfile:1
# Build the one cms binary, then run it from a small non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cms ./cmd/cms

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cms /usr/local/bin/cms
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cms"]
CMD ["serve"]
