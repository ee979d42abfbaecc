from rest_framework.views import APIView


class UsageIngestApi(APIView):
    pass
