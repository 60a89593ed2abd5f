# mailwire serve in a container: the test SMTP server and its HTTP API and
# page, for the tests of any language or a docker-compose file.
#
#   docker build -t mailwire .
#   docker run --rm -p 2525:2525 -p 8025:8025 mailwire
#   docker run --rm -p 2525:2525 -p 8025:8025 mailwire --tls implicit --user app:secret
#
# Arguments after the image name are added to `mailwire serve`'s (later
# flags win). `docker stop` ends it cleanly (SIGTERM). The API and page
# have no login: publish the ports on loopback, or on a test network only.
# cmd/mailwire/dockerfile_test.go checks this file: the build gives a
# static binary, and the entry point's flags start the server.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/mailwire ./cmd/mailwire

# A static binary needs no libc: distroless's static image, as a user that
# is not root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mailwire /mailwire
EXPOSE 2525 8025
ENTRYPOINT ["/mailwire", "serve", "--listen", "0.0.0.0:2525", "--http", "0.0.0.0:8025"]
