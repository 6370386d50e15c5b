# Build and run hookd. Used by docker-compose.yml.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /hookd ./cmd/hookd

FROM gcr.io/distroless/static-debian12
COPY --from=build /hookd /hookd
EXPOSE 8055
ENTRYPOINT ["/hookd", "serve"]
